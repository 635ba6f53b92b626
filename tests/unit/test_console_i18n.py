"""The console's words and formats: every message in the templates and the code has an
Italian translation with the same placeholders, Italian is the default, and dates, money and
quantities read as an Italian (or English) reader writes them."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from api.console import forms
from api.console.charts import Row, bar_chart
from api.console.i18n import LOCALE_DIR, Formats, choose, translations
from api.problems import Problem

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
METHODS = [("api/console/**.py", "python"), ("api/templates/console/**.html", "jinja2")]


def _extracted() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for _, _, message, _, _ in extract_from_dir(
            str(ROOT), METHODS, options_map={"api/templates/console/**.html": {
                "extensions": "jinja2.ext.i18n"}}):
        found.add(message if isinstance(message, str) else tuple(message))
    return found


def _catalogue(lang: str) -> dict[str | tuple[str, ...], object]:
    with (LOCALE_DIR / lang / "LC_MESSAGES" / "console.po").open("rb") as po:
        return {m.id if isinstance(m.id, str) else tuple(m.id): m.string
                for m in read_po(po) if m.id}


def test_every_message_is_translated_into_italian_with_the_same_placeholders() -> None:
    messages, italian = _extracted(), _catalogue("it")
    assert len(messages) > 200
    missing = sorted(str(m) for m in messages if m not in italian or not italian[m])
    assert missing == [], "run `make console-messages` and translate: " + ", ".join(missing)
    for msgid, text in italian.items():
        ids = [msgid] if isinstance(msgid, str) else list(msgid)
        texts = [text] if isinstance(text, str) else list(text)  # type: ignore[call-overload]
        for source in ids:
            for target in texts:
                assert set(PLACEHOLDER.findall(source)) >= set(PLACEHOLDER.findall(target)), msgid
    assert set(_catalogue("en")) == set(italian)  # both catalogues hold the same messages


@pytest.mark.parametrize(("query", "cookie", "header", "expected"), [
    (None, None, None, "it"), (None, None, "en-GB,en;q=0.9", "en"),
    (None, None, "de-DE,de;q=0.9,en;q=0.5", "en"), (None, None, "fr-FR, it;q=0.1", "it"),
    (None, "en", "it-IT", "en"), ("it", "en", "en", "it"), ("de", None, None, "it"),
    (None, None, "en;q=0, it;q=0.2", "it")])
def test_the_language_is_asked_remembered_or_the_browsers(
        query: str | None, cookie: str | None, header: str | None, expected: str) -> None:
    assert choose(query, cookie, header) == expected


def test_italian_formats() -> None:
    it = Formats("it")
    assert it.date(date(2026, 3, 5)) == "5 mar 2026"
    assert it.date("2026-03-05") == "5 mar 2026"
    assert it.datetime(datetime(2026, 3, 5, 9, 30, tzinfo=ZoneInfo("UTC"))) == "5 mar 2026, 10:30:00"
    assert it.money(123_456) == "1.234,56\xa0€"
    assert it.number(1234567) == "1.234.567"
    assert it.percent(0.125) == "12,5%"
    assert it.quantity(150, "minute") == "2 h 30 min"
    assert it.quantity(45, "minute") == "45 min"
    assert it.quantity(2500, "gram") == "2,5 kg"
    assert it.quantity(1, "item") == "1 pezzo" and it.quantity(1200, "item") == "1.200 pezzi"
    assert it.input_value(12_345, "eur_cent") == "123,45"
    assert translations("it").gettext("Board") == "Bacheca"


def test_english_formats() -> None:
    en = Formats("en")
    assert en.date(date(2026, 3, 5)) == "5 Mar 2026"
    assert en.money(123_456) == "€1,234.56"
    assert en.quantity(3, "item") == "3 items"
    assert en.input_value(12_345, "eur_cent") == "123.45"
    assert translations("en").gettext("Board") == "Board"


@pytest.mark.parametrize(("typed", "unit", "expected"), [
    ("12", "item", 12), ("150,50", "eur_cent", 15_050), ("1.234,5", "eur_cent", 123_450),
    ("99.9", "eur_cent", 9_990), (" 90 ", "minute", 90)])
def test_quantities_typed_in_forms(typed: str, unit: str, expected: int) -> None:
    assert forms.quantity(typed, unit) == expected


@pytest.mark.parametrize(("typed", "unit"), [("0", "item"), ("-3", "item"), ("1,5", "item"),
                                             ("1,234", "eur_cent"), ("tanti", "minute"), ("", "gram")])
def test_quantities_that_are_no_quantity(typed: str, unit: str) -> None:
    with pytest.raises(Problem) as refused:
        forms.quantity(typed, unit)
    assert refused.value.status == 422


def test_a_chart_is_an_accessible_svg_with_escaped_labels() -> None:
    svg = str(bar_chart("c1", "Needs <by> theme", "a description", [
        Row("<script>x</script>", (3, 1), ("3", "1")), Row("housing", (0, 0), ("0", "0"))],
        ("posted", "met")))
    assert svg.startswith('<svg class="chart" role="img" aria-labelledby="c1-title c1-desc"')
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "Needs &lt;by&gt; theme" in svg
    assert svg.count("<rect") == 2 + 4  # the legend's two swatches, two bars per row
    assert 'width="0.0"' in svg  # a zero draws no bar
