"""``python -m adapters.cli`` runs the ``llm-gym`` command line."""

from adapters.cli import main

main()
