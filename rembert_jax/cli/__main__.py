"""`python -m rembert_jax.cli ...`: the `rembert-jax` command without the console script."""

import sys

from .dispatch import main

sys.exit(main())
