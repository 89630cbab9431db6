"""Penn Treebank tokenisation, matching the tokens of SST and the WSJ treebank.

>>> tokenize("It doesn't work (at all), I'm \\"sure\\".")[:9]
['It', 'does', "n't", 'work', '-LRB-', 'at', 'all', '-RRB-', ',']
>>> tokenize("I'm \\"sure\\".")
['I', "'m", '``', 'sure', "''", '.']
>>> tokenize("8 1/2 stars")
['8', '1\\\\/2', 'stars']
>>> detokenize(tokenize("It doesn't work (at all), I'm \\"sure\\"."))
'It doesn\\'t work (at all), I\\'m "sure".'
"""

from __future__ import annotations

from nltk.tokenize.treebank import TreebankWordDetokenizer, TreebankWordTokenizer

_TOKENIZER = TreebankWordTokenizer()
_DETOKENIZER = TreebankWordDetokenizer()
_BRACKETS = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{",
             "-RCB-": "}"}


def tokenize(text: str) -> list[str]:
    """Split raw text into PTB tokens: ``n't``/``'s`` split off, brackets as ``-LRB-``,
    quotes as `````` and ``''``, and ``/`` and ``*`` escaped as in the treebanks."""
    tokens = _TOKENIZER.tokenize(text, convert_parentheses=True)
    return [t.replace("/", "\\/").replace("*", "\\*") for t in tokens]


def detokenize(tokens: list[str]) -> str:
    """Plain text from PTB tokens (the inverse of :func:`tokenize`, up to spacing)."""
    words = [_BRACKETS.get(t, t).replace("\\/", "/").replace("\\*", "*") for t in tokens]
    return _DETOKENIZER.detokenize(words)
