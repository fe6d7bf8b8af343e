"""Server-rendered pages for people: operator review and QA audit."""
