"""The OpenAPI 3.1 document of /api/v1 and /hooks (served at GET /api/v1/openapi.json).

Request bodies come from the pydantic models the API validates with, so the document cannot drift from
what is enforced; answers are described here and checked against real answers in the tests.
"""

from __future__ import annotations

from typing import Any

from retrain import __version__
from retrain.api.model_actions import PromoteBody, RollbackBody
from retrain.api.schemas import CancelBody, RunBody

REF = "#/components/schemas/{model}"
WORDS = [
    "started",
    "queued",
    "ignored",
    "refused",
    "cancelling",
    "invalid",
    "unauthorized",
    "forbidden",
    "not-found",
    "method-not-allowed",
    "too-large",
    "rate-limited",
    "unavailable",
    "error",
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _answers(ok: dict[str, dict[str, Any]], *errors: str) -> dict[str, Any]:
    out = dict(ok)
    for code in ("400", "429", *errors):
        out[code] = {"$ref": f"#/components/responses/{code}"}
    return out


def _schemas() -> dict[str, Any]:
    nullable_text = {"type": ["string", "null"]}
    outcome: dict[str, Any] = {
        "type": "object",
        "required": ["status", "run", "reason"],
        "properties": {
            "status": {"type": "string", "enum": WORDS},
            "run": nullable_text,
            "reason": {"type": "string"},
        },
    }
    return {
        "RunBody": RunBody.model_json_schema(ref_template=REF),
        "CancelBody": CancelBody.model_json_schema(ref_template=REF),
        "PromoteBody": PromoteBody.model_json_schema(ref_template=REF),
        "RollbackBody": RollbackBody.model_json_schema(ref_template=REF),
        "AliasAnswer": {
            "type": "object",
            "required": ["status", "model", "serving", "previous", "was", "reason"],
            "properties": {
                "status": {"type": "string", "enum": ["promoted", "rolled_back", "unchanged"]},
                "model": {"type": "string"},
                "serving": {"type": "integer"},
                "previous": {"type": ["integer", "null"]},
                "was": {"type": ["integer", "null"]},
                "reason": {"type": "string"},
            },
        },
        "Outcome": outcome,
        "Answer": {
            **outcome,
            "properties": {**outcome["properties"], "runs": {"type": "array", "items": _ref("Outcome")}},
        },
        "RunSummary": {
            "type": "object",
            "required": ["name", "kind", "state"],
            "properties": {
                "name": {"type": "string"},
                "kind": {"type": "string", "enum": ["PipelineRun", "TaskRun"]},
                "pipeline": nullable_text,
                "model": nullable_text,
                "trigger": nullable_text,
                "state": {
                    "type": "string",
                    "enum": ["Pending", "Running", "Succeeded", "Failed", "Cancelled"],
                },
                "reason": nullable_text,
                "message": nullable_text,
                "created": {"type": "string", "format": "date-time"},
                "started": {"type": ["string", "null"], "format": "date-time"},
                "completed": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        "RunList": {
            "type": "object",
            "required": ["runs"],
            "properties": {"runs": {"type": "array", "items": _ref("RunSummary")}},
        },
        "TektonObject": {
            "type": "object",
            "description": "A Tekton v1 PipelineRun or TaskRun with its status, as Tekton shows it.",
            "required": ["apiVersion", "kind", "metadata", "status"],
            "properties": {
                "apiVersion": {"const": "tekton.dev/v1"},
                "kind": {"type": "string", "enum": ["PipelineRun", "TaskRun"]},
                "metadata": {"type": "object"},
                "spec": {"type": "object"},
                "status": {"type": "object"},
            },
        },
        "TaskRunList": {
            "type": "object",
            "required": ["taskRuns"],
            "properties": {"taskRuns": {"type": "array", "items": _ref("TektonObject")}},
        },
        "ModelList": {
            "type": "object",
            "required": ["models"],
            "properties": {
                "models": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "serving", "versions"],
                        "properties": {
                            "name": {"type": "string"},
                            "serving": {"type": ["integer", "null"]},
                            "previous": {"type": ["integer", "null"]},
                            "aliases": {"type": "object", "additionalProperties": {"type": "integer"}},
                            "versions": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                }
            },
        },
        "Health": {
            "type": "object",
            "required": ["status", "service", "version", "accepting"],
            "properties": {
                "status": {"type": "string", "enum": ["ok", "stopping"]},
                "service": {"const": "retrain"},
                "version": {"type": "string"},
                "accepting": {"type": "boolean"},
            },
        },
        "AlertmanagerPayload": {
            "type": "object",
            "description": "Alertmanager's webhook payload, version 4.",
            "required": ["version", "alerts"],
            "properties": {
                "version": {"const": "4"},
                "status": {"type": "string", "enum": ["firing", "resolved"]},
                "alerts": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["status", "labels", "startsAt"],
                        "properties": {
                            "status": {"type": "string", "enum": ["firing", "resolved"]},
                            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                            "startsAt": {"type": "string"},
                            "fingerprint": {"type": "string"},
                        },
                    },
                },
            },
        },
        "GitHubPush": {
            "type": "object",
            "description": "GitHub's push event (X-GitHub-Event: push); ping is answered 200.",
            "properties": {
                "ref": {"type": "string"},
                "after": {"type": "string"},
                "commits": {"type": "array", "items": {"type": "object"}},
            },
        },
    }


def _responses() -> dict[str, Any]:
    texts = {
        "400": "Malformed request: the reason names the field.",
        "401": "No bearer token, or a missing or wrong webhook signature.",
        "403": "A wrong bearer token, or the receiver is closed: no token or secret is configured for it.",
        "408": "The body stopped arriving (server.read_timeout_s); the connection is closed.",
        "404": "No such run or endpoint.",
        "409": "Refused by the model's concurrency policy (or the run already ended).",
        "413": "The body is larger than the receiver reads.",
        "415": "The body is not sent as application/json (GitHub: form-encoded is read too).",
        "429": "Rate limited; see Retry-After.",
        "503": "The service is shutting down; see Retry-After.",
    }
    return {code: _json(_ref("Answer"), text) for code, text in texts.items()}


# Every request with a body: credentials, then the body's type, size and arrival.
_WRITE = ("401", "403", "408", "413", "415")


def _name_param() -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _paths() -> dict[str, Any]:
    bearer: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    hook_ok = {
        "200": _json(_ref("Answer"), "Valid, but nothing to do (filtered, duplicate, ping); see reason."),
        "202": _json(_ref("Answer"), "Training started (or queued) for these runs."),
    }
    filters = [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}, "description": d}
        for n, d in (
            ("model", "only runs of this model"),
            ("trigger", "manual, cron, git-push, drift-alert or api"),
            ("state", "Pending, Running, Succeeded, Failed or Cancelled"),
            ("pipeline", "only runs of this Pipeline"),
            ("label", "KEY=VALUE (repeatable)"),
            ("limit", "at most this many (1-500, default 50)"),
        )
    ]
    return {
        "/api/v1/health": {
            "get": {"summary": "Service health", "responses": {"200": _json(_ref("Health"), "OK")}}
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
        "/api/v1/runs": {
            "get": {
                "summary": "List runs, newest first",
                "parameters": filters,
                "responses": _answers({"200": _json(_ref("RunList"), "Runs")}),
            },
            "post": {
                "summary": "Start a model's training pipeline (like `retrain trigger`)",
                "security": bearer,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("RunBody")}},
                },
                "responses": _answers(
                    {"202": _json(_ref("Answer"), "Started, or queued behind another run of the model.")},
                    *_WRITE,
                    "409",
                    "503",
                ),
            },
        },
        "/api/v1/runs/{name}": {
            "get": {
                "summary": "A run, Tekton-shaped",
                "parameters": [_name_param()],
                "responses": _answers({"200": _json(_ref("TektonObject"), "The PipelineRun")}, "404"),
            }
        },
        "/api/v1/runs/{name}/taskruns": {
            "get": {
                "summary": "A run's TaskRuns, Tekton-shaped",
                "parameters": [_name_param()],
                "responses": _answers({"200": _json(_ref("TaskRunList"), "The TaskRuns")}, "404"),
            }
        },
        "/api/v1/runs/{name}/cancel": {
            "post": {
                "summary": "Cancel a run",
                "security": bearer,
                "parameters": [_name_param()],
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": _ref("CancelBody")}},
                },
                "responses": _answers(
                    {"202": _json(_ref("Answer"), "Cancel requested")}, *_WRITE, "404", "409"
                ),
            }
        },
        "/api/v1/runs/{name}/rerun": {
            "post": {
                "summary": "Re-run a run in the service: from its failed tasks (the default; those that "
                'succeeded keep their results) or whole (`{"from_failed": false}`); the same concurrency '
                "policy as any run (202 started or queued, 409 refused)",
                "security": bearer,
                "parameters": [_name_param()],
                "responses": _answers(
                    {"202": _json(_ref("Answer"), "Re-run started or queued")}, *_WRITE, "404", "409"
                ),
            }
        },
        "/api/v1/models": {
            "get": {
                "summary": "Models in the registry",
                "responses": _answers({"200": _json(_ref("ModelList"), "Models")}),
            }
        },
        **{
            f"/api/v1/models/{{name}}/{verb}": {
                "post": {
                    "summary": summary,
                    "security": bearer,
                    "parameters": [_name_param()],
                    "requestBody": {
                        "required": verb == "promote",
                        "content": {"application/json": {"schema": _ref(body)}},
                    },
                    "responses": _answers(
                        {"200": _json(_ref("AliasAnswer"), "The registry's aliases now")},
                        *_WRITE,
                        "404",
                        "409",
                    ),
                }
            }
            for verb, body, summary in (
                ("promote", "PromoteBody", "Serve a version (registry aliases; `retrain serve` follows)"),
                ("rollback", "RollbackBody", "Serve the previous version again (registry aliases)"),
            )
        },
        "/hooks/github": {
            "post": {
                "summary": "GitHub webhook (push, ping); X-Hub-Signature-256 required",
                "security": [{"githubSignature": []}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("GitHubPush")}},
                },
                "responses": _answers(hook_ok, *_WRITE, "409", "503"),
            }
        },
        "/hooks/alertmanager": {
            "post": {
                "summary": "Alertmanager webhook (version 4): firing drift alerts retrain their model",
                "security": [{"bearerAuth": []}, {}],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("AlertmanagerPayload")}},
                },
                "responses": _answers(hook_ok, *_WRITE, "409", "503"),
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "retrain service API",
            "version": __version__,
            "description": "Start and follow training runs; receive GitHub and Alertmanager webhooks. "
            "Every action answers {status, run, reason}: 202 started or queued, 200 ignored, 409 refused.",
        },
        "servers": [{"url": "/"}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "responses": _responses(),
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "githubSignature": {"type": "apiKey", "in": "header", "name": "X-Hub-Signature-256"},
            },
        },
    }
