"""``python -m letswork`` runs the same CLI as the ``letswork`` console script."""

from letswork.cli import main

if __name__ == "__main__":
    main()
