"""Tekton's reason strings and skip reasons, spelled exactly as Tekton v1 spells them."""

from __future__ import annotations

from retrain.errors import InvalidInput, Location

# PipelineRun reasons (Succeeded condition)
PR_STARTED = "Started"
PR_RUNNING = "Running"
PR_SUCCEEDED = "Succeeded"
PR_COMPLETED = "Completed"
PR_FAILED = "Failed"
PR_CANCELLED = "Cancelled"
PR_PENDING = "PipelineRunPending"
PR_TIMEOUT = "PipelineRunTimeout"
PR_STOPPING = "PipelineRunStopping"
PR_CANCELLED_RUNNING_FINALLY = "CancelledRunningFinally"
PR_STOPPED_RUNNING_FINALLY = "StoppedRunningFinally"
PR_COULDNT_GET_PIPELINE = "CouldntGetPipeline"
PR_COULDNT_GET_TASK = "CouldntGetTask"
PR_INVALID_WORKSPACE_BINDINGS = "InvalidWorkspaceBindings"
PR_PARAMETER_MISSING = "ParameterMissing"
PR_PARAMETER_TYPE_MISMATCH = "ParameterTypeMismatch"
PR_OBJECT_PARAM_MISS_KEYS = "ObjectParameterMissKeys"
PR_PARAM_ARRAY_INDEXING_INVALID = "ParamArrayIndexingInvalid"
PR_VALIDATION_FAILED = "PipelineValidationFailed"
PR_CEL_FAILED = "CELEvaluationFailed"
PR_INVALID_GRAPH = "PipelineInvalidGraph"
PR_INVALID_TASK_RESULT_REFERENCE = "InvalidTaskResultReference"
PR_COULDNT_GET_PIPELINE_RESULT = "CouldntGetPipelineResult"
PR_INVALID_TASKRUN_SPECS = "InvalidTaskRunSpecs"
PR_INVALID_PARAM_VALUE = "InvalidParamValue"

# TaskRun reasons
TR_STARTED = "Started"
TR_RUNNING = "Running"
TR_SUCCEEDED = "Succeeded"
TR_FAILED = "Failed"
TR_TO_BE_RETRIED = "ToBeRetried"
TR_CANCELLED = "TaskRunCancelled"
TR_TIMEOUT = "TaskRunTimeout"
TR_FAILURE_IGNORED = "FailureIgnored"
TR_RESULT_TOO_LARGE = "TaskRunResultLargerThanAllowedLimit"
TR_VALIDATION_FAILED = "TaskRunValidationFailed"

# Skip reasons (status.skippedTasks[].reason)
SKIP_WHEN = "When Expressions evaluated to false"
SKIP_PARENT = "Parent Tasks were skipped"
SKIP_STOPPING = "PipelineRun was stopping"
SKIP_GRACEFULLY_CANCELLED = "PipelineRun was gracefully cancelled"
SKIP_GRACEFULLY_STOPPED = "PipelineRun was gracefully stopped"
SKIP_MISSING_RESULTS = "Results were missing"
SKIP_PIPELINE_TIMEOUT = "PipelineRun timeout has been reached"
SKIP_TASKS_TIMEOUT = "PipelineRun Tasks timeout has been reached"
SKIP_FINALLY_TIMEOUT = "PipelineRun Finally timeout has been reached"
SKIP_EMPTY_MATRIX = "Matrix Parameters have an empty array"

TIMEOUT_SKIPS = frozenset({SKIP_PIPELINE_TIMEOUT, SKIP_TASKS_TIMEOUT, SKIP_FINALLY_TIMEOUT})

MAX_RESULT_BYTES = 4096
RESULT_TOO_LARGE_MESSAGE = "Termination message is above max allowed size 4096, caused by large task result."
MAX_MATRIX_COMBINATIONS = 256


class RunRejected(InvalidInput):
    """A run that cannot start (or must stop) for a reason Tekton names, e.g. ParameterMissing."""

    def __init__(
        self, reason: str, message: str, *, location: Location | None = None, hint: str | None = None
    ) -> None:
        super().__init__(f"{reason}: {message}", location=location, hint=hint)
        self.reason = reason
        self.detail = message
