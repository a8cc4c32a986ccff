"""Knowledge bases in the admin: imported from AKool's list with the catalog, created here
and upstream (against the fake AKool: the create body, the id kept), edited (a new one
upstream), and every failure a clear form error with nothing saved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessions.knowledge_models import KnowledgeBase
from sessions.models import AvatarPreset, StaffAction, VoicePreset
from tests.staff.helpers import messages_of, superuser_client
from tests.support.akool import use_akool
from tests.support.fakes.akool_server import FakeAkool

pytestmark = pytest.mark.django_db(transaction=True)

BASES = "/admin/avatar_sessions/knowledgebase/"
ADD = f"{BASES}add/"


@pytest.fixture
def akool(settings) -> Iterator[FakeAkool]:
    with FakeAkool() as fake:
        use_akool(settings, fake.base_url, fake.api_key)
        yield fake


@pytest.fixture
def staff(world):
    return superuser_client(world)


def form(**fields: str) -> dict[str, str]:
    return {
        "name": "Museum guide",
        "prologue": "Hello! Ask me about the museum.",
        "prompt": "You are a museum guide. Talk about the paintings.",
        "documents": "https://example.org/docs/guide.pdf\n\nhttps://example.org/floor%20plan.csv",
        **fields,
    }


def form_errors(response) -> str:
    assert response.status_code == 200, response.status_code  # the form again, not a redirect
    return response.text


# --- import --------------------------------------------------------------------------------


def test_the_catalog_import_brings_akools_knowledge_bases_and_logs_it(staff, akool):
    response = staff.post(f"{BASES}import/", follow=True)

    assert response.redirect_chain == [(BASES, 302)]
    said = messages_of(response)[0]
    assert said.endswith("knowledge bases: 2 new, 0 refreshed.")
    assert [r.query["page"] for r in akool.requests_to("knowledge_list")] == ["1"]
    base = KnowledgeBase.objects.get(knowledge_id="fake_kb_import_001")
    assert (base.name, base.source) == ("Fake Knowledge 1", "imported")
    assert base.prologue == "Hello from knowledge base 1."
    assert base.prompt == "Answer questions about product line 1."
    assert base.doc_urls == ["https://fake.akool.test/docs/1.pdf"]
    action = StaffAction.objects.get(kind="import")
    assert "knowledge bases: 2 new, 0 refreshed" in action.what
    assert "Fake Knowledge 1" in staff.get(BASES).text


def test_a_refresh_keeps_staff_edits_and_fills_what_is_empty(staff, akool):
    staff.post(f"{BASES}import/", follow=True)
    base = KnowledgeBase.objects.get(knowledge_id="fake_kb_import_002")
    base.name, base.prologue = "Our name", ""
    base.save()

    said = messages_of(staff.post(f"{BASES}import/", follow=True))[0]

    assert said.endswith("knowledge bases: 0 new, 1 refreshed.")
    base.refresh_from_db()
    assert (base.name, base.prologue) == ("Our name", "Hello from knowledge base 2.")
    assert KnowledgeBase.objects.count() == 2


def test_a_failing_knowledge_list_fails_the_import_and_saves_nothing(staff, akool):
    akool.fail("knowledge_list", "code", code=1102, msg="authorization missing")

    said = messages_of(staff.post(f"{BASES}import/", follow=True))

    assert said[0].startswith("The AKool catalog could not be fetched:")
    assert "authorization missing" in said[0]
    assert not KnowledgeBase.objects.exists()
    assert StaffAction.objects.get(kind="import").data["error"]


# --- create --------------------------------------------------------------------------------


def test_saving_a_new_base_creates_it_on_akool_and_keeps_its_id(staff, akool):
    response = staff.post(ADD, form())

    assert response.status_code == 302
    (request,) = akool.requests_to("knowledge_create")
    assert request.headers["x-api-key"] == akool.api_key
    assert request.json == {
        "name": "Museum guide",
        "prologue": "Hello! Ask me about the museum.",
        "prompt": "You are a museum guide. Talk about the paintings.",
        "docs": [
            {"name": "guide.pdf", "url": "https://example.org/docs/guide.pdf"},
            {"name": "floor plan.csv", "url": "https://example.org/floor%20plan.csv"},
        ],
    }
    base = KnowledgeBase.objects.get()
    assert base.knowledge_id == akool.knowledge[-1]["_id"]
    assert base.knowledge_id.startswith("fake_kb_")
    assert base.source == "created"
    assert base.doc_urls == [
        "https://example.org/docs/guide.pdf",
        "https://example.org/floor%20plan.csv",
    ]


def test_an_upstream_refusal_is_a_form_error_and_nothing_is_saved(staff, akool):
    akool.fail("knowledge_create", "code", code=1003, msg="document type not supported")

    page = form_errors(staff.post(ADD, form()))

    assert "AKool could not create the knowledge base, so nothing was saved" in page
    assert "document type not supported" in page
    assert not KnowledgeBase.objects.exists()


def test_an_unreachable_upstream_is_a_form_error_and_the_create_is_not_retried(
    staff, akool, settings
):
    settings.AKOOL_RETRIES = 2
    akool.fail("knowledge_create", "http500")

    page = form_errors(staff.post(ADD, form()))

    assert "nothing was saved" in page
    assert akool.count("knowledge_create") == 1  # not idempotent: never retried
    assert not KnowledgeBase.objects.exists()


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"documents": "ftp://example.org/a.pdf"}, "Line 1 is not a web address"),
        ({"documents": "https://example.org/a.pdf\nnot a url"}, "Line 2 is not a web address"),
        ({"documents": "https://example.org/" + "a" * 1000}, "Line 1 is not a web address"),
        ({"documents": "\n".join(f"https://e.org/{i}.pdf" for i in range(21))}, "at most 20"),
        ({"name": ""}, "This field is required"),
        ({"name": "n" * 101}, "at most 100 characters"),
        ({"prologue": "p" * 101}, "at most 100 characters"),
        ({"prompt": "p" * 10001}, "at most 10000 characters"),
    ],
)
def test_bad_input_is_refused_on_the_form_before_akool_is_asked(staff, akool, fields, said):
    page = form_errors(staff.post(ADD, form(**fields)))

    assert said in page
    assert akool.count("knowledge_create") == 0
    assert not KnowledgeBase.objects.exists()


def test_the_document_limit_is_a_setting(staff, akool, settings):
    settings.KNOWLEDGE_MAX_DOCUMENTS = 1
    page = form_errors(staff.post(ADD, form()))
    assert "List at most 1 documents; there are 2." in page


def test_the_sandbox_creates_a_base_without_a_network(staff, world):
    assert staff.post(ADD, form()).status_code == 302
    assert KnowledgeBase.objects.get().knowledge_id.startswith("sbx_kb_")


# --- edit ----------------------------------------------------------------------------------


def test_editing_what_akool_holds_creates_a_new_base_upstream_and_says_so(staff, akool):
    staff.post(ADD, form())
    base = KnowledgeBase.objects.get()
    first_id = base.knowledge_id

    response = staff.post(f"{BASES}{base.pk}/change/", form(prologue="Welcome back!"), follow=True)

    base.refresh_from_db()
    assert base.knowledge_id != first_id
    assert akool.requests_to("knowledge_create")[-1].json["prologue"] == "Welcome back!"
    assert f"AKool holds this knowledge base under a new id now: {base.knowledge_id}." in (
        messages_of(response)
    )
    # The admin says beforehand what saving a change does.
    page = staff.get(f"{BASES}{base.pk}/change/").text
    assert "saving a change to any of these fields creates a new one there" in page


def test_saving_an_unchanged_base_asks_akool_nothing(staff, akool):
    staff.post(ADD, form())
    base = KnowledgeBase.objects.get()

    assert staff.post(f"{BASES}{base.pk}/change/", form()).status_code == 302

    assert akool.count("knowledge_create") == 1
    base.refresh_from_db()
    assert base.knowledge_id == akool.knowledge[-1]["_id"]


def test_a_failed_edit_keeps_the_base_as_it_was(staff, akool):
    staff.post(ADD, form())
    base = KnowledgeBase.objects.get()
    akool.fail("knowledge_create", "code", msg="quota exceeded")

    page = form_errors(staff.post(f"{BASES}{base.pk}/change/", form(prompt="Other.")))

    assert "quota exceeded" in page
    kept = KnowledgeBase.objects.get()
    assert (kept.knowledge_id, kept.prompt) == (base.knowledge_id, base.prompt)


# --- presets and voices --------------------------------------------------------------------


def test_a_preset_picks_a_knowledge_base_in_its_form(staff, world):
    base = KnowledgeBase.objects.create(name="Museum guide", knowledge_id="kb_1")
    page = staff.get(f"/admin/avatar_sessions/avatarpreset/{world.preset.pk}/change/").text
    assert 'name="knowledge"' in page
    found = staff.get(
        "/admin/autocomplete/",
        {
            "term": "Museum",
            "app_label": "avatar_sessions",
            "model_name": "avatarpreset",
            "field_name": "knowledge",
        },
    ).json()
    assert found["results"] == [{"id": str(base.pk), "text": "Museum guide"}]


VOICES = "/admin/avatar_sessions/voicepreset/"


def voice_form(**fields: str) -> dict[str, str]:
    return {
        "slug": "clone",
        "name": "Clone",
        "voice_id": "",
        "voice_url": "",
        "order": "0",
        **fields,
    }


@pytest.mark.parametrize(
    "fields",
    [{}, {"voice_id": "v1", "voice_url": "https://example.org/voice.wav"}],
)
def test_a_voice_needs_exactly_one_of_its_id_and_its_url(staff, fields):
    page = form_errors(staff.post(f"{VOICES}add/", voice_form(**fields)))
    assert "Give either the AKool voice id or the cloned voice" in page
    assert not VoicePreset.objects.filter(slug="clone").exists()


def test_a_cloned_voice_by_url_is_saved(staff):
    response = staff.post(f"{VOICES}add/", voice_form(voice_url="https://example.org/voice.wav"))
    assert response.status_code == 302
    assert VoicePreset.objects.get(slug="clone").voice_url == "https://example.org/voice.wav"
    assert AvatarPreset.objects.exists()  # the world's presets are untouched
