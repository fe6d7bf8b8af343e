"""One module per schema revision, oldest first. Never edit one that has shipped; add a new one."""
