"""``python -m chatbot``: the same as the ``chatbot`` command."""

from chatbot.surfaces.cli import main

main()
