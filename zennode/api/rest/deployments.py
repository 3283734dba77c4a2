"""`/v1/deployments`: several BPMN and DMN resources deployed as one deployment.

The REST form of the Zeebe gateway's DeployResource (and Camunda's `POST /v2/deployments`):
multipart parts named `resources`, each a file whose name says what it is (`.bpmn`/`.xml`,
`.dmn`). All are checked before anything is stored, so one bad resource deploys nothing; all
share one deployment key, which `bindingType="deployment"` binds to. The deployment is one
replicated command (`Service.deploy_resources`): stored all or nothing, and copied to every
partition by a relay that retries until each has it.
"""

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from zennode.api.rest.models import DeploymentResult
from zennode.errors import BadRequest
from zennode.service import RESOURCES_PER_DEPLOYMENT_MAX, Service, deployment_key_of

RESOURCES_MAX = RESOURCES_PER_DEPLOYMENT_MAX  # parts of one call: one replicated command
FIELD = "resources"

_DEPLOY_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    FIELD: {
                        "type": "array",
                        "items": {"type": "string", "format": "binary"},
                        "description": "BPMN (.bpmn, .xml) and DMN (.dmn) files; the file "
                        "name says which",
                    }
                },
                "required": [FIELD],
            }
        },
    },
}


async def read_resources(request: Request) -> list[tuple[str, bytes]]:
    """(file name, bytes) of every `resources` part, in the order sent. Anything else in the
    body is refused rather than ignored, so a misspelt part name is a 400, not a deploy of
    fewer resources than meant."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest(f"send the resources as multipart/form-data parts named '{FIELD}'")
    resources: list[tuple[str, bytes]] = []
    async with request.form(max_files=RESOURCES_MAX, max_fields=RESOURCES_MAX) as form:
        for name, part in form.multi_items():
            if name != FIELD:
                raise BadRequest(f"unknown multipart part '{name}': only '{FIELD}' is read")
            if not isinstance(part, UploadFile) or not part.filename:
                raise BadRequest(
                    f"each '{FIELD}' part must be a file with a name ending in .bpmn, .xml or .dmn"
                )
            resources.append((part.filename[:255], await part.read()))
    if not resources:
        raise BadRequest(f"the deployment has no '{FIELD}' parts")
    return resources


def deployment_result(
    resources: list[tuple[str, bytes]], results: list[dict[str, Any]]
) -> dict[str, Any]:
    """One answer for the call from the per-resource results of `Service.deploy_resources`."""
    processes: list[dict[str, Any]] = []
    requirements: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    warnings: list[str] = []
    for (name, _content), result in zip(resources, results, strict=True):
        if "decisionRequirementsKey" in result:
            requirements.append(result)
            decisions.extend(result["decisions"])
        else:
            processes.extend({**process, "resourceName": name} for process in result["processes"])
            warnings.extend(f"{name}: {warning}" for warning in result.get("warnings", ()))
    return {
        "deploymentKey": deployment_key_of(results),
        "duplicate": all(result["duplicate"] for result in results),
        "processes": processes,
        "decisionRequirements": requirements,
        "decisions": decisions,
        "warnings": warnings or None,
    }


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/v1/deployments", tags=["deployments"])

    @api.post(
        "",
        status_code=201,
        response_model=DeploymentResult,
        response_model_exclude_none=True,
        summary="Deploy several BPMN and DMN resources as one deployment",
        description=f"Multipart parts named `{FIELD}` (at most {RESOURCES_MAX}), each a file "
        "named `.bpmn`/`.xml` or `.dmn`. Every resource is checked first: a bad one is a 400 "
        "naming it, with nothing deployed. Then the whole deployment is one replicated "
        "command: stored all or nothing (a 503 — leader lost, outcome unknown — means either "
        "all of it or none is stored; sending the same call again is safe). The answer comes "
        "once it is stored and normally once every partition has its copy (copies are relayed "
        "until each partition has one). A larger deployment than one command may carry "
        "(`limits.request_bytes_max`) is a 413. Every definition deployed "
        'records the one `deploymentKey` (what `bindingType="deployment"` binds to), as the '
        "Zeebe gateway's DeployResource does. 201 when anything is new (then unchanged "
        "resources get a new version too, as in Zeebe); 200 with the earlier keys when every "
        "resource is unchanged since one earlier deployment, so a repeated call deploys "
        "nothing twice.",
        openapi_extra={"requestBody": _DEPLOY_BODY},
        responses={200: {"model": DeploymentResult, "description": "Every resource unchanged"}},
    )
    async def deploy_resources(request: Request, response: Response) -> dict[str, Any]:
        resources = await read_resources(request)
        results = await service.deploy_resources(resources)
        answer = deployment_result(resources, results)
        if answer["duplicate"]:
            response.status_code = 200
        return answer

    return api
