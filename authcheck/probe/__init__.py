"""`authcheck probe`: the known bypass classes, sent through an operator's live deployment."""
