"""Django settings for building a database the way the old system did (SQLite, USE_TZ)."""

import os

SECRET_KEY = "switch-over-test-only"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "conversations"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJANGO_DB", "db.sqlite3"),
    }
}
USE_TZ = True
TIME_ZONE = "Africa/Cairo"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
MEDIA_ROOT = os.environ.get("DJANGO_MEDIA", "media")
