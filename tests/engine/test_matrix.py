"""Matrix fan-out as Tekton's Matrix.FanOut, and the matrix context variables, as a PipelineRun sees them."""

from __future__ import annotations

from fixtures.engine_helpers import RunYaml
from retrain.engine.matrix import combinations
from retrain.tekton.model import IncludeParams, Matrix, Param


def _table(matrix: Matrix) -> list[dict[str, str]]:
    return [{p.name: str(p.value) for p in combo} for combo in combinations(matrix, owner="t")]


def test_the_first_matrix_param_varies_fastest() -> None:
    """Tekton's own case "multiple arrays in matrix" (matrix_types_test.go)."""
    matrix = Matrix(
        params=[
            Param(name="GOARCH", value=["linux/amd64", "linux/ppc64le", "linux/s390x"]),
            Param(name="version", value=["go1.17", "go1.18.1"]),
        ],
        include=[IncludeParams()],  # an empty include adds nothing
    )
    assert _table(matrix) == [
        {"GOARCH": a, "version": v}
        for v in ("go1.17", "go1.18.1")
        for a in ("linux/amd64", "linux/ppc64le", "linux/s390x")
    ]


def test_includes_extend_matching_combinations_or_add_their_own() -> None:
    """The example of Tekton's docs/matrix.md: seven combinations."""

    def include(name: str, **params: str) -> IncludeParams:
        return IncludeParams(name=name, params=[Param(name=k, value=v) for k, v in params.items()])

    matrix = Matrix(
        params=[
            Param(name="GOARCH", value=["linux/amd64", "linux/ppc64le", "linux/s390x"]),
            Param(name="version", value=["go1.17", "go1.18.1"]),
        ],
        include=[
            include("common-package", package="path/to/common/package/"),
            include("s390x-no-race", GOARCH="linux/s390x", flags="-cover -v"),
            include("go117-context", version="go1.17", context="path/to/go117/context"),
            include("non-existent-arch", GOARCH="I-do-not-exist"),
        ],
    )
    pkg, ctx = {"package": "path/to/common/package/"}, {"context": "path/to/go117/context"}
    flags = {"flags": "-cover -v"}
    assert _table(matrix) == [
        {"GOARCH": "linux/amd64", "version": "go1.17", **pkg, **ctx},
        {"GOARCH": "linux/ppc64le", "version": "go1.17", **pkg, **ctx},
        {"GOARCH": "linux/s390x", "version": "go1.17", **pkg, **flags, **ctx},
        {"GOARCH": "linux/amd64", "version": "go1.18.1", **pkg},
        {"GOARCH": "linux/ppc64le", "version": "go1.18.1", **pkg},
        {"GOARCH": "linux/s390x", "version": "go1.18.1", **pkg, **flags},
        {"GOARCH": "I-do-not-exist"},
    ]
    # each combination's params are ordered by name, as Tekton's sortCombination orders them
    first = combinations(matrix, owner="t")[0]
    assert [p.name for p in first] == sorted(p.name for p in first)


def test_an_include_sharing_one_value_with_a_combination_is_not_added() -> None:
    """Tekton's shouldAddNewCombination: {platform: mac, browser: safari} matches no combination fully, but
    platform=mac exists, so it is neither merged nor added."""
    matrix = Matrix(
        params=[Param(name="platform", value=["linux", "mac"]), Param(name="browser", value=["chrome"])],
        include=[
            IncludeParams(params=[Param(name="platform", value="mac"), Param(name="browser", value="safari")])
        ],
    )
    assert _table(matrix) == [
        {"browser": "chrome", "platform": "linux"},
        {"browser": "chrome", "platform": "mac"},
    ]


def test_include_only_makes_one_combination_per_entry() -> None:
    matrix = Matrix(
        include=[
            IncludeParams(
                name="a", params=[Param(name="IMAGE", value="i1"), Param(name="DOCKERFILE", value="d1")]
            ),
            IncludeParams(name="b", params=[Param(name="IMAGE", value="i2")]),
        ]
    )
    assert _table(matrix) == [{"DOCKERFILE": "d1", "IMAGE": "i1"}, {"IMAGE": "i2"}]


CONTEXT = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: mxc
spec:
  pipelineSpec:
    tasks:
      - name: fan
        displayName: "fan $(params.n) of $(params.kind)"
        params:
          - {name: kind, value: number}
        matrix:
          params:
            - {name: n, value: ["1", "2", "3"]}
          include:
            - name: "special $(params.n)"
              params: [{name: n, value: "2"}]
        taskSpec:
          params: [{name: n}, {name: kind}]
          results: [{name: even}, {name: never}]
          steps:
            - image: busybox
              script: |
                if [ $(( $(params.n) % 2 )) -eq 0 ]; then printf yes > $(results.even.path); fi
      - name: count
        runAfter: [fan]
        params:
          - {name: all, value: $(tasks.fan.matrix.length)}
          - {name: even, value: $(tasks.fan.matrix.even.length)}
          - {name: never, value: $(tasks.fan.matrix.never.length)}
        taskSpec:
          params: [{name: all}, {name: even}, {name: never}]
          steps:
            - image: busybox
              script: echo "all=$(params.all) even=$(params.even) never=$(params.never)"
"""


def test_matrix_lengths_and_display_names(run: RunYaml) -> None:
    ran = run(CONTEXT)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("mxc-count") == ["all=3 even=1 never=0"]
    fan = [c for c in ran.status["childReferences"] if c["pipelineTaskName"] == "fan"]
    assert [(c["name"], c.get("displayName")) for c in fan] == [
        ("mxc-fan-0", "fan 1 of number"),
        ("mxc-fan-1", "special 2"),  # an include's name takes precedence over displayName
        ("mxc-fan-2", "fan 3 of number"),
    ]
