"""Seed-guide compatible training command; see gru_attn/compat.py and the README's mapping table."""

from gru_attn.compat import main

if __name__ == "__main__":
    main()
