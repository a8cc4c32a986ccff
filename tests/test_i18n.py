"""Issue 17: the page's words in English and Spanish, chosen from the browser's language.

The catalogs stay complete: every msgid of locale/es has its Spanish (none fuzzy), and
makemessages finds no string in the code, templates or static/js that the .po files lack
(nor keeps one the code no longer uses). The server's words follow Accept-Language: the
pages, the JavaScript catalog, the API's error messages (their codes unchanged) and the
socket's error frames."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.utils import translation

from avatarsite.asgi import application
from sessions import display
from tests.staff.helpers import SESSIONS, client_for, grant
from tests.support.i18n import DOMAINS, SPANISH, ensure_compiled, entries, msgids
from tests.support.wsutil import ORIGIN, bearer, create_session

ROOT = Path(settings.BASE_DIR)
SPANISH_BROWSER = "es-ES,es;q=0.9,en;q=0.5"


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    ensure_compiled()


# --- The catalogs stay complete ------------------------------------------------------------


@pytest.mark.first_pass  # the catalogs as files: once per make test is enough
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_msgid_has_its_spanish(domain):
    po = SPANISH / f"{domain}.po"
    found = entries(po)
    assert found, f"{po} has no entries"
    untranslated = [
        e["msgid"]
        for e in found
        if e["fuzzy"] or not all(v for k, v in e.items() if k.startswith("msgstr"))
    ]
    assert not untranslated, f"{po.name}: no Spanish (or fuzzy) for {untranslated}"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    """makemessages run over a copy of the code, merged into a copy of locale/: the
    msgids it finds, per domain."""
    copy = tmp_path_factory.mktemp("makemessages")
    skip = shutil.ignore_patterns("__pycache__", "*.mo")
    for part in ("avatarsite", "sessions", "templates", "locale"):
        shutil.copytree(ROOT / part, copy / part, ignore=skip)
    shutil.copytree(ROOT / "static" / "js", copy / "static" / "js", ignore=skip)
    here = Path.cwd()
    try:
        import os

        os.chdir(copy)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(settings, "LOCALE_PATHS", [copy / "locale"])
            for domain in DOMAINS:
                call_command("makemessages", locale=["es"], domain=domain, verbosity=0)
    finally:
        os.chdir(here)
    return {d: msgids(copy / "locale" / "es" / "LC_MESSAGES" / f"{d}.po") for d in DOMAINS}


@pytest.mark.first_pass  # makemessages over a copy of the code: files only
@pytest.mark.parametrize("domain", DOMAINS)
def test_makemessages_finds_nothing_the_po_files_lack(extracted, domain):
    ours = msgids(SPANISH / f"{domain}.po")
    new = sorted(extracted[domain] - ours)
    assert not new, (
        f"strings not in locale/es/LC_MESSAGES/{domain}.po: {new}. Run `manage.py "
        f"makemessages -l es{' -d djangojs' if domain == 'djangojs' else ''}` and translate them."
    )
    # makemessages keeps a string the code dropped as an obsolete (#~) entry: none live.
    gone = sorted(ours - extracted[domain])
    assert not gone, f"{domain}.po translates strings the code no longer has: {gone}"


# --- Pages --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_sign_in_page_follows_the_browsers_language(client):
    spanish = client.get("/accounts/login/", headers={"accept-language": SPANISH_BROWSER})
    page = spanish.content.decode()
    assert '<html lang="es">' in page
    assert "Iniciar sesión" in page and "Saltar al contenido" in page
    assert spanish["Content-Language"] == "es"
    assert "Accept-Language" in spanish["Vary"]

    english = client.get("/accounts/login/", headers={"accept-language": "en-US,en;q=0.9"})
    page = english.content.decode()
    assert '<html lang="en">' in page and "Sign in" in page and "Iniciar" not in page

    # A language we do not have: English.
    other = client.get("/accounts/login/", headers={"accept-language": "de-DE"})
    assert '<html lang="en">' in other.content.decode()


def test_the_avatar_page_and_history_in_spanish(world, client):
    client.force_login(world.alice)
    avatar = client.get("/", headers={"accept-language": SPANISH_BROWSER}).content.decode()
    for words in ("Habla con un avatar", "Empezar", "Terminar sesión", "Historial"):
        assert words in avatar
    assert "Talk to an avatar" not in avatar
    # The page loads the catalog before its modules, from our own origin (CSP 'self').
    assert avatar.index('src="/jsi18n/"') < avatar.index('type="module"')

    history = client.get("/history/", headers={"accept-language": SPANISH_BROWSER})
    assert "Todavía no hay sesiones" in history.content.decode()


def test_history_words_in_spanish():
    with translation.override("es"):
        assert display.duration_words(65) == "1 min 5 s"
        assert display.language_name("fr") == "Francés"
        assert display.mode_name(2) == "Diálogo"
        assert display.mode_name(1, use_llm=True) == "Asistente propio"
    with translation.override("en"):
        assert display.language_name("fr") == "French"
        assert display.mode_name(2) == "Dialogue"


# --- The JavaScript catalog -----------------------------------------------------------------


@pytest.mark.django_db
def test_the_javascript_catalog_is_in_the_browsers_language(client):
    spanish = client.get("/jsi18n/", headers={"accept-language": SPANISH_BROWSER})
    assert spanish.status_code == 200
    assert "javascript" in spanish["Content-Type"]
    assert "max-age=3600" in spanish["Cache-Control"]
    body = spanish.content.decode()
    # (The catalog is JSON: its non-ASCII letters are escaped.)
    assert "Deteniendo al avatar" in body and "Aplicando la voz" in body
    # Only our own catalog: not the admin's JavaScript words.
    assert "Mostrar todo" not in body

    english = client.get("/jsi18n/", headers={"accept-language": "en-US"})
    assert "Deteniendo" not in english.content.decode()
    # The cache keeps a catalog per language: Spanish again after English.
    again = client.get("/jsi18n/", headers={"accept-language": SPANISH_BROWSER})
    assert "Deteniendo al avatar" in again.content.decode()


# --- Errors: the message translated, the code the same ---------------------------------------


def test_an_api_error_in_spanish_keeps_its_code(world, alice_api):
    body = json.dumps({"preset": "ada", "duration": 5})
    headers = {**alice_api.headers, "Accept-Language": SPANISH_BROWSER}
    response = alice_api.client.post(
        "/api/v1/sessions", data=body, content_type="application/json", headers=headers
    )
    error = response.json()["error"]
    assert response.status_code == 422 and error["code"] == "invalid_duration"
    assert error["message"].startswith("La duración debe estar entre")

    english = alice_api.post("/sessions", {"preset": "ada", "duration": 5})
    assert english.json()["error"]["message"].startswith("The duration must be between")


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (SPANISH_BROWSER, "Tipo de mensaje desconocido «dance»."),
        ("en-US", "Unknown message type “dance”."),
    ],
)
async def test_a_socket_error_frame_in_the_pages_language(world, language, expected):
    session = await create_session(world.alice_token)
    headers = [ORIGIN, bearer(world.alice_token), (b"accept-language", language.encode())]
    page = WebsocketCommunicator(application, session["ws_path"], headers=headers)
    connected, _ = await page.connect()
    assert connected
    try:
        assert json.loads(await page.receive_from(timeout=3))["type"] == "session"
        # Twice: the language holds for the whole connection, not only its first message.
        for _ in range(2):
            await page.send_json_to({"type": "dance"})
            error = json.loads(await page.receive_from(timeout=3))
            assert error == {"type": "error", "code": "unknown_type", "message": expected}
    finally:
        await page.disconnect()


# --- Words added since the first pass ---------------------------------------------------------


def test_the_account_pages_in_spanish(world, client):
    client.force_login(world.alice)
    spanish = {"headers": {"accept-language": SPANISH_BROWSER}}
    page = client.get("/accounts/", **spanish).content.decode()
    assert "Tu cuenta" in page and "Has iniciado sesión como <strong>alice</strong>." in page
    assert "Eliminar tu cuenta y sus datos" in page and "Your account" not in page

    refused = client.post("/accounts/delete/", {"password": "not it"}, **spanish)
    page = refused.content.decode()
    assert refused.status_code == 400
    assert "Tu contraseña" in page
    assert "Esa no es tu contraseña. Tu cuenta no se ha eliminado." in page


def test_the_password_reset_mail_in_spanish(world, client):
    world.alice.email = "alice@example.com"
    world.alice.save()
    response = client.post(
        "/accounts/password/reset/",
        {"email": "alice@example.com"},
        headers={"accept-language": SPANISH_BROWSER},
    )
    assert response.status_code == 302
    (sent,) = mail.outbox
    assert sent.subject == "Restablece tu contraseña de avatarsite"
    assert "Para elegir una contraseña nueva, abre este enlace:" in sent.body
    assert "alice" in sent.body and "Someone asked" not in sent.body


def test_a_spend_refusal_in_spanish_keeps_its_code(world, alice_api, settings):
    settings.SPEND_MINUTES_PER_DAY = 1
    body = json.dumps({"preset": "ada", "duration": 120})
    headers = {**alice_api.headers, "Accept-Language": SPANISH_BROWSER}
    response = alice_api.client.post(
        "/api/v1/sessions", data=body, content_type="application/json", headers=headers
    )
    error = response.json()["error"]
    assert response.status_code == 429 and error["code"] == "spend_cap"
    assert error["message"].startswith(
        "Este sitio ha agotado su tiempo de avatar por hoy: le quedan 1 de sus 1 minutos"
    )
    assert "medianoche UTC, dentro de unos" in error["message"]


def test_status_names_in_spanish_and_plain_strings_for_json():
    with translation.override("es"):
        assert display.status_name("active") == "En curso"
        assert display.status_name("closed") == "Terminada"
        names = display.status_names()
        assert json.loads(json.dumps(names))["failed"] == "Fallida"
    # "Ended" as a time's label (History's session page) keeps its own Spanish.
    with translation.override("es"):
        assert translation.gettext("Ended") == "Fin"
    with translation.override("en"):
        assert display.status_names()["active"] == "Live"


def test_the_usage_pages_spending_block_in_spanish(world):
    staff = client_for(grant(world.staff, "view_usage"))
    page = staff.get(f"{SESSIONS}usage/", headers={"accept-language": SPANISH_BROWSER}).text
    assert "Gasto" in page and "Hoy (UTC, " in page and "Minutos por día" in page
    assert "Spending" not in page and "Minutes per day" not in page


def test_the_recording_notice_and_a_consent_refusal_in_spanish(world, client, alice_api):
    client.force_login(world.alice)
    page = client.get("/", headers={"accept-language": SPANISH_BROWSER}).content.decode()
    # The notice's words reach the page's config (JSON: its letters escaped) in Spanish.
    assert "Esta conversaci\\u00f3n se graba." in page
    assert "Grabación" in page and "Prolongar" in page

    world.preset.consent_required = True
    world.preset.save()
    headers = {**alice_api.headers, "Accept-Language": SPANISH_BROWSER}
    response = alice_api.client.post(
        "/api/v1/sessions",
        data=json.dumps({"preset": "ada"}),
        content_type="application/json",
        headers=headers,
    )
    error = response.json()["error"]
    assert response.status_code == 400 and error["code"] == "consent_required"
    assert error["message"].startswith("Este avatar necesita que aceptes el aviso de grabación")
