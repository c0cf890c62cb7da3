"""The Hugging Face Space's entry: build the mnistnet Blocks and serve them.

Host and port come from the usual Gradio settings (GRADIO_SERVER_NAME, default 127.0.0.1;
GRADIO_SERVER_PORT, default 7860). MNISTNET_DATA points at MNIST, MNISTNET_RUNS at the runs folder.
"""
import logging

from mnistnet.ui import build_app, launch_options

demo = build_app().queue(max_size=64)

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    demo.launch(**launch_options())
