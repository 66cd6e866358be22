"""End-to-end: the real app on a loopback port, driven in headless Chromium by Playwright.

Needs Debian's chromium (``.ci/run`` installs it); skipped where it is missing unless
FTCLF_REQUIRE_BROWSER=1 (set by CI), where a missing browser fails the run.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic"]

if not Path(CHROMIUM).exists():
    if os.environ.get("FTCLF_REQUIRE_BROWSER") == "1":
        raise RuntimeError("expected Debian's chromium at /usr/bin/chromium for the browser tests; run .ci/run")
    pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "FTCLF_BACKEND": "torch",
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1",
           "FTCLF_USER_HEADS": str(tmp_path_factory.mktemp("user-heads")),
           "FTCLF_CACHE": str(tmp_path_factory.mktemp("cache"))}
    log = open(tmp_path_factory.mktemp("log") / "app.log", "w")  # noqa: SIM115 (the app's log)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited early: {Path(log.name).read_text()[-2000:]}")
    else:
        proc.kill()
        raise RuntimeError("app.py did not start within 120 s")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(server)
        page.get_by_role("tab", name="Text classification").wait_for()
        yield page
        browser.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()


def test_text_classification_tab(page):
    open_tab(page, "Text classification")
    page.locator("#sentiment-text textarea").fill("A gripping, beautifully acted film that stays with you for days.")
    page.locator("#sentiment-run").click()
    page.locator("#sentiment-label").get_by_text("positive").first.wait_for()
    page.locator("#sentiment-plot .js-plotly-plot").wait_for()
    page.locator("#sentiment-summary").get_by_text("latency").wait_for()
    shot(page, "sentiment")


def test_pair_tab(page):
    """The tab opens on paraphrase (its name's first word), names the NLI head beside it, and runs both."""
    open_tab(page, "Paraphrase / NLI")
    assert page.locator("#pair-head input").input_value() == "paraphrase-mrpc"
    heads = page.locator("#pair-heads").inner_text()
    assert "paraphrase-mrpc decides not_paraphrase / paraphrase" in heads, heads
    assert "nli-sick decides contradiction / entailment / neutral" in heads, heads
    page.locator("#pair-a textarea").fill("The company said quarterly profit rose 10 percent.")
    page.locator("#pair-b textarea").fill("Quarterly profit at the company climbed 10 percent, it said.")
    page.locator("#pair-run").click()
    page.locator("#pair-summary").get_by_text("paraphrase-mrpc").wait_for()
    pick(page, "#pair-head", "nli-sick")
    page.locator("#pair-a textarea").fill("A man is playing a guitar on stage.")
    page.locator("#pair-b textarea").fill("Nobody is playing music.")
    page.locator("#pair-run").click()
    page.locator("#pair-label").get_by_text("contradiction").first.wait_for()
    page.locator("#pair-plot .js-plotly-plot").wait_for()
    page.locator("#pair-summary").get_by_text("cross-mode").wait_for()
    shot(page, "pair")


def test_ner_tab(page):
    open_tab(page, "NER")
    # a long entity: the table once grew wider than its panel and hid its last column
    page.locator("#ner-text textarea").fill("Angela Merkel met Emmanuel Macron and the United Nations Educational Scientific "
                                            "and Cultural Organization in Paris.")
    page.locator("#ner-run").click()
    page.locator("#ner-spans").get_by_text(re.compile(r"^PER [01]\.\d\d$")).first.wait_for()
    page.locator("#ner-spans").get_by_text(re.compile(r"^LOC [01]\.\d\d$")).first.wait_for()
    page.locator("#ner-heatmap .js-plotly-plot").wait_for()
    assert "Paris" in page.locator("#ner-table").inner_text()
    # every column fits the panel at 1,400 px: the last header lies inside the table's box and the viewport
    table = page.locator("#ner-table").bounding_box()
    last = page.locator("#ner-table th").last  # its text also holds the column menu's "⋮"
    assert last.inner_text().strip() == "end"
    end = last.bounding_box()
    assert end is not None and end["width"] > 0, end
    assert table["x"] <= end["x"] and end["x"] + end["width"] <= table["x"] + table["width"] + 1, (end, table)
    assert end["x"] + end["width"] <= page.viewport_size["width"], end
    shot(page, "ner")


def test_train_save_and_use_new_head(page):
    open_tab(page, "Train")
    page.locator("#train-preview").click()
    page.locator("#train-preview-table").get_by_text("positive").first.wait_for()
    page.locator("#train-mode").get_by_text("frozen", exact=True).click()  # auto (the default) takes minutes here
    page.locator("#train-run").click()
    page.locator("#train-status").get_by_text("Training finished", exact=False).wait_for(timeout=240_000)
    status = page.locator("#train-status").inner_text()
    assert "Recipe: linear head; frozen encoder, the head fitted full-batch with L-BFGS" in status, status
    assert "cross-validation on the 120 training examples" in status, status
    page.locator("#train-curves .js-plotly-plot").wait_for()
    page.locator("#train-matrix .js-plotly-plot").wait_for()
    # calibration: the reliability diagram, the figures with their interval (120 out-of-fold rows: noise first)
    page.locator("#train-reliability .js-plotly-plot").wait_for(timeout=60_000)
    figures = page.locator("#train-calibration").inner_text()
    assert "read the interval" in figures and "90 % interval of the true ECE" in figures and "NLL" in figures, figures
    # the operating point of a binary head: curves, and a slider whose confusion matrix follows it
    page.locator("#train-pr-roc .js-plotly-plot").wait_for()
    page.locator("#train-threshold-matrix .js-plotly-plot").wait_for()
    page.locator("#train-threshold-readout").get_by_text("At 0.50").wait_for()
    move_slider(page, "#train-threshold", 0.7)
    page.locator("#train-threshold-readout").get_by_text("At 0.70").wait_for()
    shot(page, "train")
    page.locator("#train-use-threshold input").check()
    page.locator("#train-name textarea, #train-name input").first.fill("browser-sentiment")
    page.locator("#train-save").click()
    page.locator("#train-saved").get_by_text("Saved").wait_for()
    assert "from a probability of 0.70" in page.locator("#train-saved").inner_text()
    page.locator("#train-teacher input").click()  # the teacher picker offers the head just saved
    page.get_by_role("option", name="browser-sentiment").wait_for()
    page.keyboard.press("Escape")
    open_tab(page, "Text classification")
    picker = page.locator("#sentiment-head input")
    picker.click()
    page.get_by_role("option", name="browser-sentiment").click()
    page.locator("#sentiment-text textarea").fill("a wonderful and moving film")
    page.locator("#sentiment-run").click()
    page.locator("#sentiment-summary").get_by_text("browser-sentiment").wait_for()
    shot(page, "sentiment-user-head")


def test_a_multilabel_head_trains_from_its_sample_and_serves_label_sets(page):
    """The multi-label sample trains in the Train tab (per-label chart), is saved, and the Text classification
    tab shows its label set as chips and a bar per label with the label's threshold marked."""
    open_tab(page, "Train")
    page.locator("#train-task").get_by_text("(multilabel)").click()
    page.locator("#train-source").get_by_text("Built-in sample").click()
    pick(page, "#train-sample", "aspects (100 reviews)")
    page.locator("#train-preview").click()
    page.locator("#train-counts").get_by_text("labels per text", exact=False).wait_for()
    page.locator("#train-mode").get_by_text("frozen", exact=True).click()
    page.locator("#train-run").click()
    page.locator("#train-status").get_by_text("micro-F1", exact=False).wait_for(timeout=240_000)
    page.locator("#train-status").get_by_text("Training finished", exact=False).wait_for()
    page.locator("#train-matrix .js-plotly-plot").wait_for()
    assert "thresholds tuned on the other folds" in page.locator("#train-status").inner_text()
    page.locator("#train-calibration").get_by_text("its own threshold", exact=False).wait_for(timeout=60_000)
    save_and_classify(page, "browser-aspects", "The soup was cold and the bill was far too high for what we got.")
    page.locator("#sentiment-summary").get_by_text("one sigmoid per label", exact=False).wait_for()
    assert page.locator("#sentiment-summary .ftclf-chip").count() >= 1  # the chosen set as chips
    page.locator("#sentiment-plot .js-plotly-plot").wait_for()
    assert page.locator("#sentiment-plot .scatterlayer .point").count() == 4  # a threshold mark on every label's bar
    shot(page, "multilabel")
    pick(page, "#sentiment-head", "sentiment-sst2")  # the tests after this one read the sentiment head


def ask_why(page, tab: str, prefix: str, texts: dict[str, str], heading: str, answer: str) -> str:
    """Fill a tab's inputs, open its "Why?" view, run it and wait for ``answer`` in its summary; returns the summary."""
    open_tab(page, tab)
    for box, text in texts.items():
        page.locator(f"#{box} textarea").fill(text)
    page.locator(f"#{prefix}-why").get_by_text(heading).click()
    page.locator(f"#{prefix}-why-run").click()
    page.locator(f"#{prefix}-why-summary").get_by_text(answer).wait_for()
    return page.locator(f"#{prefix}-why-summary").inner_text()


def test_why_views_show_scored_words_in_every_tab(page):
    """Each task tab's "Why?" view highlights the words with their scores: a label's, or an entity's."""
    summary = ask_why(page, "Text classification", "sentiment",
                      {"sentiment-text": "The staff were friendly and the room was spotless."},
                      "Why? Which words made this label", "Strongest")
    assert "Why negative" in summary and "Minimal flip" in summary
    assert "spotless" in page.locator("#sentiment-why-text").inner_text()
    shot(page, "sentiment-why")
    ask_why(page, "Paraphrase / NLI", "pair", {"pair-a": "A man is playing a guitar on stage.",
                                               "pair-b": "A person is playing an instrument."},
            "Why? Which words of each text", "Strongest")
    assert "instrument" in page.locator("#pair-why-b").inner_text()
    ask_why(page, "NER", "ner", {"ner-text": "Angela Merkel visited Paris."}, "Why? The evidence for each entity", "is PER")
    assert "Paris" in page.locator("#ner-why-text").inner_text()
    shot(page, "ner-why")


def test_models_and_explain_tabs(page):
    open_tab(page, "Models")
    page.locator("#models-table").get_by_text("ner-conll2003").first.wait_for()
    shot(page, "models")
    pick(page, "#models-inspect-head", "paraphrase-mrpc")  # a shipped binary head: diagram and operating point
    page.locator("#models-inspect").click()
    page.locator("#models-reliability .js-plotly-plot").wait_for()
    assert "ECE 0.18" in page.locator("#models-calibration").inner_text()  # uncalibrated → calibrated
    page.locator("#models-pr-roc .js-plotly-plot").wait_for()
    page.locator("#models-threshold-readout").get_by_text("At 0.50").wait_for()
    shot(page, "models-calibration")
    open_tab(page, "How it works")
    page.locator("#explain-run").click()
    page.locator("#explain-md").get_by_text("argmax").first.wait_for()
    assert "alibrated" in page.locator("#explain-md").inner_text()  # the temperature beside the softmax
    shot(page, "explain")


def test_empty_input_shows_error_and_server_keeps_serving(page):
    open_tab(page, "Text classification")
    page.locator("#sentiment-text textarea").fill("   ")
    page.locator("#sentiment-run").click()
    page.get_by_text("expected some text").first.wait_for()
    page.locator("#sentiment-text textarea").fill("a dull , boring mess")
    page.locator("#sentiment-run").click()
    page.locator("#sentiment-label").get_by_text("negative").first.wait_for()


def upload_for_training(page, data: Path) -> None:
    """Train tab, a text classification task, the file uploaded (its name shown)."""
    open_tab(page, "Train")
    page.locator("#train-task").get_by_text("(sequence)").click()
    page.locator("#train-source").get_by_text("Upload a file").click()
    page.locator("#train-upload").wait_for(state="visible")
    page.locator("#train-upload input[type=file]").set_input_files(str(data))
    try:  # the box's rendered text names the file, stem and extension in separate elements
        page.wait_for_function("name => document.querySelector('#train-upload').innerText.replace(/\\s/g, '')"
                               ".includes(name)",
                               arg=data.name, timeout=120_000)
    except sync_api.TimeoutError:
        shot(page, f"upload-not-shown-{data.stem}")
        raise AssertionError(f"expected the upload box to show {data.name}, it shows "
                             f"{page.locator('#train-upload').inner_text()!r}") from None


EVIL_LINK = '<a href="https://evil.example/">click</a>'
EVIL_URL = "www.evil.example"


def move_slider(page, slider: str, value: float) -> None:
    """Drag a gradio slider to ``value`` as a hand does: the range input takes it, then says so."""
    page.locator(f"{slider} input[type=range]").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true}));"
        " el.dispatchEvent(new Event('change', {bubbles: true})); el.dispatchEvent(new PointerEvent('pointerup')); }",
        str(value))


def test_a_behaviour_suite_runs_in_the_test_tab_and_a_failure_says_why(page):
    """The Test tab: the built-in sentiment suite on the shipped head (capabilities, tests, failing cases; a
    failing case's words scored), a suite typed into the editor, and the NER suite picked with its head."""
    open_tab(page, "Test")
    page.locator("#test-run").click()
    page.locator("#test-summary").get_by_text("sentiment-sst2 passes").wait_for()
    assert "Negation of negatives" in page.locator("#test-capabilities").inner_text()
    assert "typos" in page.locator("#test-tests").inner_text()
    failing = page.locator('#test-failures [data-testid="cell-0-1"]')
    words = "".join(failing.inner_text().split()).rstrip("⋮")
    failing.click()  # its words, scored, in the why view
    page.wait_for_function("(words) => document.querySelector('#test-why')?.innerText.replace(/\\s+/g, '')"
                           ".includes(words)", arg=words)
    shot(page, "behaviour-tests")
    editor = page.locator("#test-code .cm-content")
    editor.click()
    page.keyboard.press("Control+A")
    page.keyboard.insert_text('{name: mine, task: sequence, lexicons: {thing: [room, kitchen]}, tests: [{name: spotless, '
                              'template: "The {thing} was spotless.", expect: positive}]}')
    page.locator("#test-run").click()
    page.locator("#test-summary").get_by_text("mine").wait_for()
    assert "2 cases in 1 tests" in page.locator("#test-summary").inner_text()
    pick(page, "#test-suite", "ner")
    page.wait_for_function("document.querySelector('#test-head input')?.value == 'ner-conll2003'")
    page.locator("#test-run").click()
    page.locator("#test-summary").get_by_text("ner-conll2003 passes").wait_for()
    assert "Name invariance" in page.locator("#test-capabilities").inner_text()


def pick(page, dropdown: str, option: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.locator(dropdown).get_by_role("option", name=option, exact=True).click()


def save_and_classify(page, name: str, text: str) -> None:
    """Save the Train tab's finished run as ``name``, pick it in the Text classification tab and classify ``text``."""
    page.locator("#train-name textarea, #train-name input").first.fill(name)
    page.locator("#train-save").click()
    page.locator("#train-saved").get_by_text(name).wait_for()
    open_tab(page, "Text classification")
    pick(page, "#sentiment-head", name)
    page.locator("#sentiment-text textarea").fill(text)
    page.locator("#sentiment-run").click()


def test_hostile_labels_stay_text_from_upload_to_prediction(page, tmp_path):
    """Labels that are HTML or URLs: no link in the preview line, the confusion matrix or the
    Text classification tab's chart; an undetected column is picked in the form after a readable message."""
    data = tmp_path / "hostile.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["comment", "verdict"])  # neither name is detected: the user picks them
        for i in range(16):
            writer.writerow([f"a wonderful, moving film number {i}", EVIL_LINK])
            writer.writerow([f"a dull, boring mess number {i}", EVIL_URL])
    upload_for_training(page, data)
    page.locator("#train-preview").click()
    page.locator("#train-counts").get_by_text("pick the text column in the Text column box").wait_for()
    assert "--text-column" not in page.locator("#train-counts").inner_text()
    pick(page, "#train-text-column", "comment")
    pick(page, "#train-label-column", "verdict")
    page.locator("#train-preview").click()
    page.locator("#train-counts").get_by_text("32 examples").wait_for()
    page.wait_for_function("!document.querySelector('#train-run').disabled")  # the preview worked: Train is on
    counts = page.locator("#train-counts").inner_text()
    assert EVIL_LINK in counts and EVIL_URL in counts, counts
    assert page.locator("#train-counts a").count() == 0  # neither the tag nor the bare URL became a link
    page.locator("#train-mode").get_by_text("frozen", exact=True).click()
    page.locator("#train-run").click()
    # an earlier test's run may still show "Training finished": wait for this run's matrix instead
    page.locator("#train-matrix .xtick text", has_text="evil.example").first.wait_for(timeout=240_000)
    page.locator("#train-status").get_by_text("Training finished", exact=False).wait_for()
    assert page.locator("#train-status a").count() == 0
    ticks = page.locator("#train-matrix .xtick text").all_text_contents()
    assert EVIL_LINK in ticks and EVIL_URL in ticks, ticks  # drawn as the characters themselves
    assert page.locator("#train-matrix svg a").count() == 0
    # the calibration panel names the second label too (curves' title, the threshold's readout): as text
    page.locator("#train-threshold-readout").get_by_text(EVIL_URL).wait_for()  # this run's panel, not the last one's
    assert page.locator("#train-threshold-readout a").count() == 0
    assert page.locator("#train-pr-roc svg a").count() == 0
    shot(page, "hostile-train")
    save_and_classify(page, "hostile-labels", "a wonderful and moving film")
    page.locator("#sentiment-summary").get_by_text("hostile-labels").wait_for()
    page.locator("#sentiment-plot .js-plotly-plot").wait_for()
    ticks = page.locator("#sentiment-plot .ytick text").all_text_contents()
    assert EVIL_LINK in ticks and EVIL_URL in ticks, ticks
    assert page.locator("#sentiment-plot svg a").count() == 0
    assert page.locator("#sentiment-summary a").count() == 0
    shot(page, "hostile-sentiment")


SUPPORT = {"billing": ["I was charged twice for my order number {i}", "the invoice {i} shows the wrong amount",
                       "please refund the duplicate payment {i}"],
           "bug": ["the app crashes when I open settings on try {i}", "the page stays blank after login {i}",
                   "an error appears when I upload file {i}"],
           "feature": ["could you add a dark mode, request {i}", "please support exporting to pdf, idea {i}",
                       "it would be great to schedule reports, wish {i}"]}


def test_own_csv_trains_by_picked_columns_survives_a_reload_and_saves(page, tmp_path):
    """A newcomer's file (message,category: neither name is detected) trains after picking the columns in
    the form; a failed preview leaves one message and a disabled Train; the run is saved after a reload."""
    data = tmp_path / "support.csv"
    with open(data, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["message", "category"])
        for i in range(5):
            for category, templates in SUPPORT.items():
                for template in templates:
                    writer.writerow([template.format(i=i), category])
    page.reload()  # a fresh form (an earlier test left its upload in the file box)
    page.get_by_role("tab", name="Train").wait_for()
    upload_for_training(page, data)
    assert page.locator("#train-run").is_disabled()  # Train waits for a preview of the upload
    page.locator("#train-preview").click()
    page.locator("#train-counts").get_by_text("Preview failed").wait_for()
    message = page.locator("#train-counts").inner_text()
    assert "pick the text column in the Text column box" in message and "--text-column" not in message, message
    assert page.locator("#train-run").is_disabled()
    assert page.get_by_text("Error", exact=True).count() == 0  # one message in place: no red pills, no toast
    shot(page, "own-csv-preview-failed")
    pick(page, "#train-text-column", "message")
    pick(page, "#train-label-column", "category")
    page.locator("#train-preview").click()
    page.locator("#train-counts").get_by_text("45 examples").wait_for()
    page.wait_for_function("!document.querySelector('#train-run').disabled")
    page.locator("#train-mode").get_by_text("frozen", exact=True).click()
    page.locator("#train-run").click()
    page.locator("#train-metrics").get_by_text("feature").first.wait_for(timeout=240_000)  # this run's classes
    status = page.locator("#train-status").inner_text()
    assert "Training finished" in status and "rests on 45 examples" in status, status
    page.reload()  # the page (and its gradio session) goes; the browser's run does not
    page.get_by_role("tab", name="Train").wait_for()
    open_tab(page, "Train")
    page.locator("#train-status").get_by_text("Your last run").wait_for(timeout=60_000)
    page.locator("#train-name textarea, #train-name input").first.fill("support-tickets")
    page.locator("#train-save").click()
    page.locator("#train-saved").get_by_text("support-tickets").wait_for()
    assert "Saved" in page.locator("#train-saved").inner_text()
    shot(page, "own-csv-saved-after-reload")

