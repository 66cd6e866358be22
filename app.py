"""ftclf dashboard: `python app.py` serves it on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default
127.0.0.1:7860; Hugging Face Spaces sets both), with the HTTP API (`/v1/models`, the Hugging Face Inference
API's payloads; `/docs`) on the same server and port. Runs offline on the embedded encoder."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no phoning home: the app runs offline

import gradio as gr  # noqa: E402

from ftclf.service import MAX_UPLOAD_BYTES  # noqa: E402
from ftclf.service.inference_api import create_api  # noqa: E402
from ftclf.service.jobs import warm_server_imports, warm_workers  # noqa: E402
from ftclf.ui import CSS, build_demo  # noqa: E402
from ftclf.ui.context import store  # noqa: E402

demo = build_demo()
#: Threads mostly wait on the serving engine; each browser session keeps gradio state (about 1 MB here), so the
#: number of sessions kept is bounded (least recently used first out).
MAX_THREADS, SESSIONS = 128, 200


def serve() -> None:
    """The dashboard at / and the HTTP API at /v1/models, one FastAPI application under uvicorn."""
    import uvicorn

    store().warm()  # the shipped heads load in the background (their ONNX export, the first time on a machine)
    warm_workers()  # and the training workers' fork server, so the first run starts at once
    warm_server_imports()  # and what the server needs when that run's head first answers
    demo.max_threads, demo.state_session_capacity = MAX_THREADS, SESSIONS
    demo._queue.max_thread_count = MAX_THREADS  # what launch(max_threads=...) sets
    app = gr.mount_gradio_app(create_api(store()), demo, path="/", max_file_size=MAX_UPLOAD_BYTES, css=CSS)
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    print(f"* Running on http://{host}:{port} (dashboard), http://{host}:{port}/v1/models (API; /docs)", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)


if __name__ == "__main__":
    serve()
