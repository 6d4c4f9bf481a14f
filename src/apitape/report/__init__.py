"""Reports: the JSON shape, the terminal, Markdown, JUnit and HTML renderings."""
