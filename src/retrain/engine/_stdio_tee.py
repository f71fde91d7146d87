"""Run a command, copying its stdout and/or stderr to files as well (a step's stdoutConfig/stderrConfig).

Usage: python -I -S _stdio_tee.py STDOUT_PATH STDERR_PATH -- COMMAND [ARG...]   (an empty path: no copy)

Tekton's entrypoint (cmd/entrypoint/runner.go) does the same with io.MultiWriter: the output still reaches
the step's log, and each file is created with its parent directories and appended to (O_APPEND), so one path
given for both streams gets them combined. Standalone on purpose: it starts with `-I -S` inside the sandbox,
importing nothing of the project.
"""

import os
import selectors
import signal
import subprocess
import sys
from pathlib import Path


def _open(path: str) -> int | None:
    if not path:
        return None
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        print("usage: _stdio_tee.py STDOUT_PATH STDERR_PATH -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    try:
        copies = {1: _open(argv[1]), 2: _open(argv[2])}
    except OSError as exc:
        print(f"cannot open {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    piped = {fd: subprocess.PIPE if copy is not None else None for fd, copy in copies.items()}
    try:
        proc = subprocess.Popen(argv[4:], stdout=piped[1], stderr=piped[2])
    except OSError as exc:
        print(f"{argv[4]}: {exc.strerror}", file=sys.stderr)
        return 127 if isinstance(exc, FileNotFoundError) else 126
    selector = selectors.DefaultSelector()
    for fd, stream in ((1, proc.stdout), (2, proc.stderr)):
        if stream is not None:
            selector.register(stream.fileno(), selectors.EVENT_READ, fd)
    while selector.get_map():
        for key, _ in selector.select():
            chunk = os.read(key.fd, 65536)
            if not chunk:
                selector.unregister(key.fd)
                continue
            os.write(key.data, chunk)
            copy = copies[key.data]
            if copy is not None:
                os.write(copy, chunk)
    code = proc.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main(sys.argv))
