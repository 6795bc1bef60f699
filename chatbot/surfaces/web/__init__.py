"""The Gradio web UI: the page (``page``) and its handlers (``handlers``)."""
