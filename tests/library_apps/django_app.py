"""A one-file Django project: AuthcheckMiddleware in front of a view for every path (parity test)."""

import os

from django.conf import settings
from django.core.asgi import get_asgi_application
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, JsonResponse
from django.urls import re_path

settings.configure(
    DEBUG=False,
    SECRET_KEY="test-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["authcheck.django.AuthcheckMiddleware"],
    AUTHCHECK={"config": os.environ["AUTHCHECK_CONFIG"]},
)


def everything(request: HttpRequest) -> JsonResponse:
    auth = request.auth
    return JsonResponse({"subject": auth.subject if auth else None})


urlpatterns = [re_path(r"", everything)]
application = get_wsgi_application()
asgi_application = get_asgi_application()  # the same project under an ASGI server
