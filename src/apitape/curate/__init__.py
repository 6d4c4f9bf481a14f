"""Curation: what a capture holds (stats), a smaller suite that keeps its coverage (select),
several captures as one (merge); all streamed, one exchange in memory at a time."""
