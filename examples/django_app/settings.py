"""Minimal settings for a Django API protected by authcheck.

pip install 'authcheck[django]' gunicorn
AUTHCHECK_CONFIG=authcheck.yaml gunicorn --threads 4 wsgi:application
"""

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, object] = {}

MIDDLEWARE = [
    "authcheck.django.AuthcheckMiddleware",  # the config's rules, before any view
]
AUTHCHECK = {"config": os.environ.get("AUTHCHECK_CONFIG", "authcheck.yaml")}
