"""A package folder with no packaging metadata: word statistics."""

from textstats.counting import top_words, word_count

__all__ = ["top_words", "word_count"]
