"""ftclf dashboard: `python app.py` serves it on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default
127.0.0.1:7860; Hugging Face Spaces sets both). Runs offline on the embedded encoder."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home: the app runs offline

from ftclf.service import MAX_UPLOAD_BYTES  # noqa: E402
from ftclf.ui import CSS, build_demo  # noqa: E402
from ftclf.ui.context import store  # noqa: E402

demo = build_demo()

if __name__ == "__main__":
    store().warm()  # the shipped heads load in the background (their ONNX export, the first time on a machine)
    # Threads mostly wait on the serving engine; each browser session keeps gradio state (about 1 MB here), so
    # the number of sessions kept is bounded (least recently used first out).
    demo.launch(max_file_size=MAX_UPLOAD_BYTES, max_threads=128, state_session_capacity=200, css=CSS)
