"""A small CEL evaluator for Tekton's `when: [{cel: ...}]`, covering exactly what is listed here.

Tekton compiles a `cel` when expression with an empty environment (no variables): `$(params.x)` and
`$(tasks.t.results.r)` are substituted into the text first, so the expressions are made of literals.
Supported: string ('..', "..", with \\ escapes), int, uint (1u), double, bool and null literals, lists
`[a, b]`, `!`, unary `-`, `* / % + -`, `< <= > >= == !=`, `in` (list membership), `&&`, `||`, `c ? a : b`,
parentheses, `size(x)`/`x.size()`, and the string methods `matches` (RE2, found anywhere, as in CEL),
`startsWith`, `endsWith`, `contains`. Anything else (an identifier, a map, another function) is a
`CelError` naming the expression and the construct, never a guess. Equality of values of different types
is false; ordering them is an error, as in cel-go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["CelError", "cel_syntax_problem", "check_syntax", "evaluate"]


class CelError(ValueError):
    """An expression this evaluator cannot parse or evaluate; the message names the expression."""


@dataclass(frozen=True)
class _Tok:
    kind: str  # "str", "num", "id", "op", "end"
    text: str
    value: Any
    pos: int


_OPS: tuple[str, ...] = ("&&", "||", "==", "!=", "<=", ">=", "<", ">", "!", "+", "-", "*", "/", "%")
_OPS += ("(", ")", "[", "]", ",", ".", "?", ":", "{", "}")
_NUM = re.compile(r"0[xX][0-9a-fA-F]+u?|\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\.\d+|\d+u?", re.ASCII)
_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r", "`": "`", "?": "?"}


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "'\"":
            j, chars = i + 1, []
            while True:
                if j >= len(text) or text[j] == "\n":
                    raise CelError(f"unterminated string literal at column {i + 1}")
                if text[j] == c:
                    break
                if text[j] == "\\":
                    if j + 1 >= len(text) or text[j + 1] not in _ESCAPES:
                        raise CelError(f"unsupported escape sequence at column {j + 1}")
                    chars.append(_ESCAPES[text[j + 1]])
                    j += 2
                    continue
                chars.append(text[j])
                j += 1
            out.append(_Tok("str", text[i : j + 1], "".join(chars), i))
            i = j + 1
        elif (m := _NUM.match(text, i)) is not None and (c.isdigit() or (c == "." and m.end() > i + 1)):
            raw = m.group()
            if raw.endswith("u") or raw.lower().startswith("0x"):
                value: Any = int(raw.rstrip("u"), 0)
            elif any(ch in raw for ch in ".eE"):
                value = float(raw)
            else:
                value = int(raw)
            out.append(_Tok("num", raw, value, i))
            i = m.end()
        elif (m := _ID.match(text, i)) is not None:
            out.append(_Tok("id", m.group(), None, i))
            i = m.end()
        else:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:
                raise CelError(f"unexpected character {c!r} at column {i + 1}")
            out.append(_Tok("op", op, None, i))
            i += len(op)
    out.append(_Tok("end", "", None, len(text)))
    return out


# The syntax tree is nested tuples: ("lit", v) ("list", [..]) ("un", op, x) ("bin", op, a, b)
# ("cond", c, a, b) ("call", name, target or None, [args]).
_BINARY = [("||",), ("&&",), ("==", "!=", "<", "<=", ">", ">=", "in"), ("+", "-"), ("*", "/", "%")]
_METHODS = {"matches", "startsWith", "endsWith", "contains", "size"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks, self.i = _tokens(text), 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self, text: str | None = None) -> _Tok:
        tok = self.toks[self.i]
        if text is not None and tok.text != text:
            shown = tok.text or "the end"
            raise CelError(f"expected {text!r} at column {tok.pos + 1}, found {shown!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        tree = self.expr()
        if self.peek().kind != "end":
            tok = self.peek()
            raise CelError(f"unexpected {tok.text!r} at column {tok.pos + 1}")
        return tree

    def expr(self) -> Any:
        cond = self.binary(0)
        if self.peek().text == "?":
            self.take("?")
            yes = self.expr()
            self.take(":")
            return ("cond", cond, yes, self.expr())
        return cond

    def binary(self, level: int) -> Any:
        if level == len(_BINARY):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek().text in _BINARY[level] and self.peek().kind in ("op", "id"):
            op = self.take().text
            left = ("bin", op, left, self.binary(level + 1))
        return left

    def unary(self) -> Any:
        if self.peek().text in ("!", "-") and self.peek().kind == "op":
            op = self.take().text
            return ("un", op, self.unary())
        return self.member(self.primary())

    def member(self, target: Any) -> Any:
        while self.peek().text == ".":
            self.take(".")
            name = self.take()
            if name.kind != "id" or name.text not in _METHODS or self.peek().text != "(":
                raise CelError(f"unsupported member or function {name.text!r} at column {name.pos + 1}")
            target = ("call", name.text, target, self.args())
        if self.peek().text == "[":
            tok = self.peek()
            raise CelError(f"unsupported index expression at column {tok.pos + 1}")
        return target

    def args(self) -> list[Any]:
        self.take("(")
        args: list[Any] = []
        while self.peek().text != ")":
            args.append(self.expr())
            if self.peek().text != ")":
                self.take(",")
        self.take(")")
        return args

    def primary(self) -> Any:
        tok = self.take()
        if tok.kind in ("str", "num"):
            return ("lit", tok.value)
        if tok.kind == "id":
            literal = {"true": True, "false": False, "null": None}
            if tok.text in literal:
                return ("lit", literal[tok.text])
            if tok.text in _METHODS and self.peek().text == "(":
                return ("call", tok.text, None, self.args())
            raise CelError(
                f"undeclared reference to {tok.text!r} at column {tok.pos + 1} (Tekton declares no CEL "
                "variables: substitute a $(...) value inside quotes, e.g. '$(params.x)' == 'y')"
            )
        if tok.text == "(":
            inner = self.expr()
            self.take(")")
            return inner
        if tok.text == "[":
            items: list[Any] = []
            while self.peek().text != "]":
                items.append(self.expr())
                if self.peek().text != "]":
                    self.take(",")
            self.take("]")
            return ("list", items)
        if tok.text == "{":
            raise CelError(f"map literals are not supported (column {tok.pos + 1})")
        raise CelError(f"unexpected {tok.text or 'end of expression'!r} at column {tok.pos + 1}")


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "list" if isinstance(v, list) else type(v).__name__


def _equal(a: Any, b: Any) -> bool:
    if _kind(a) != _kind(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _eval(node: Any) -> Any:
    tag = node[0]
    if tag == "lit":
        return node[1]
    if tag == "list":
        return [_eval(n) for n in node[1]]
    if tag == "cond":
        test = _eval(node[1])
        if not isinstance(test, bool):
            raise CelError(f"no such overload: the condition of ?: is a {_kind(test)}")
        return _eval(node[2] if test else node[3])
    if tag == "un":
        value = _eval(node[2])
        if node[1] == "!":
            if not isinstance(value, bool):
                raise CelError(f"no such overload: !{_kind(value)}")
            return not value
        if _kind(value) != "number":
            raise CelError(f"no such overload: -{_kind(value)}")
        return -value
    if tag == "bin":
        return _binary(node[1], node[2], node[3])
    return _call(node[1], node[2], node[3])


def _binary(op: str, left: Any, right: Any) -> Any:
    if op in ("&&", "||"):
        a = _eval(left)
        if not isinstance(a, bool):
            raise CelError(f"no such overload: {_kind(a)} {op} ...")
        if (op == "&&" and not a) or (op == "||" and a):
            return a
        b = _eval(right)
        if not isinstance(b, bool):
            raise CelError(f"no such overload: bool {op} {_kind(b)}")
        return b
    a, b = _eval(left), _eval(right)
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op == "in":
        if not isinstance(b, list):
            raise CelError(f"no such overload: {_kind(a)} in {_kind(b)} (`in` needs a list)")
        return any(_equal(a, item) for item in b)
    same = _kind(a) == _kind(b) and _kind(a) in ("number", "string", "bool")
    if op in ("<", "<=", ">", ">="):
        if not same:
            raise CelError(f"no such overload: {_kind(a)} {op} {_kind(b)}")
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
    if op == "+" and _kind(a) == _kind(b) and _kind(a) in ("number", "string", "list"):
        return a + b
    if op in ("-", "*", "/", "%") and same and _kind(a) == "number":
        if op in ("/", "%") and b == 0:
            raise CelError("division by zero")
        if op == "/":
            return a // b if isinstance(a, int) and isinstance(b, int) else a / b
        return {"-": a - b, "*": a * b, "%": a % b}[op]
    raise CelError(f"no such overload: {_kind(a)} {op} {_kind(b)}")


def _call(name: str, target: Any, args: list[Any]) -> Any:
    values = [_eval(a) for a in args]
    subject = _eval(target) if target is not None else (values.pop(0) if values else None)
    if name == "size":
        if values or not isinstance(subject, str | list):
            raise CelError("no such overload: size() takes one string or list")
        return len(subject)
    if not isinstance(subject, str) or len(values) != 1 or not isinstance(values[0], str):
        raise CelError(f"no such overload: {name}() is a string method taking one string")
    pattern = values[0]
    if name == "matches":
        try:
            return re.search(pattern, subject) is not None
        except re.error as exc:
            raise CelError(f"invalid regular expression {pattern!r}: {exc}") from None
    return {"startsWith": subject.startswith, "endsWith": subject.endswith, "contains": subject.__contains__}[
        name
    ](pattern)


def check_syntax(expression: str) -> None:
    """Raise CelError when `expression` is outside what this evaluator supports (Tekton's compile step)."""
    _Parser(expression).parse()


def cel_syntax_problem(expression: str) -> str | None:
    """Tekton's webhook message for a `cel` it cannot compile (None when it compiles here)."""
    try:
        check_syntax(expression)
    except CelError as exc:
        return f"invalid cel expression: {expression} with err: {exc}"
    return None


def evaluate(expression: str) -> bool:
    """The boolean value of a substituted `cel` when expression; CelError for anything else."""
    try:
        value = _eval(_Parser(expression).parse())
    except CelError as exc:
        raise CelError(f"{expression}: {exc}") from None
    except RecursionError:
        raise CelError(f"{expression}: the expression is nested too deeply") from None
    if not isinstance(value, bool):
        raise CelError(f"The CEL expression {expression} is not evaluated to a boolean")
    return value
