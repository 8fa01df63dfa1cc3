"""A clinic's OHIF configuration (`window.config`, OHIF's app-config.js): its DICOMweb base as the one data
source, and the router base that keeps OHIF's client-side routes under /viewer/t/<clinic>/."""

import json

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import resolve_url
from django.urls import reverse

from portal.models import Tenant

DATA_SOURCE = "palisade"


def dicomweb_base(request: HttpRequest, tenant: Tenant) -> str:
    """The clinic's DICOMweb base URL, absolute on the host the browser used (same origin as the viewer)."""
    studies = reverse("dicomweb-stow", kwargs={"tenant_slug": tenant.slug})
    return request.build_absolute_uri(studies.removesuffix("/studies"))


def app_config(request: HttpRequest, tenant: Tenant) -> dict:
    base = dicomweb_base(request, tenant)
    return {
        "routerBasename": reverse("viewer", kwargs={"tenant_slug": tenant.slug}).rstrip("/"),
        "extensions": [],
        "modes": [],
        "customizationService": {},
        "showStudyList": True,
        "maxNumberOfWebWorkers": 3,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 25},
        "defaultDataSourceName": DATA_SOURCE,
        "dataSources": [
            {
                "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
                "sourceName": DATA_SOURCE,
                "configuration": {
                    "friendlyName": tenant.name,
                    "name": DATA_SOURCE,
                    "qidoRoot": base,
                    "wadoRoot": base,
                    "wadoUriRoot": base,
                    # Our QIDO-RS takes includefield and fuzzymatching, and matches wildcards (DESIGN.md).
                    "qidoSupportsIncludeField": True,
                    "supportsFuzzyMatching": True,
                    "supportsWildcard": True,
                    "imageRendering": "wadors",
                    "thumbnailRendering": "wadors",
                    "enableStudyLazyLoad": True,
                    "staticWado": False,
                    "bulkDataURI": {"enabled": True},
                    "omitQuotationForMultipartRequest": True,
                    # Studies enter through the portal's upload, STOW-RS or DIMSE, not the viewer.
                    "dicomUploadEnabled": False,
                },
            }
        ],
    }


def app_config_script(request: HttpRequest, tenant: Tenant) -> str:
    """app-config.js: the configuration as JSON, and an error handler sending a signed-out user (the
    session expired: DICOMweb answers 401) to sign in and back."""
    login = resolve_url(settings.LOGIN_URL)
    return (
        f"window.config = {json.dumps(app_config(request, tenant), indent=2)};\n"
        "window.config.httpErrorHandler = function (error) {\n"
        "  if (error && error.status === 401) {\n"
        f"    window.location.assign({json.dumps(login)} + '?next='"
        " + encodeURIComponent(window.location.pathname + window.location.search));\n"
        "  }\n"
        "};\n"
    )
