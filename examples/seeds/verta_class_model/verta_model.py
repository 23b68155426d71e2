"""Verta's class model, as Verta's docs write it; the only change is the base class (``torchon.Component``
instead of ``verta.registry.VertaModelBase``).

``artifacts`` maps each artifact's key to a local path: ``vocab`` a text file of words, ``weights`` a ``.npy``
array holding one weight per word, in the words' sorted order.
"""

import numpy as np

import torchon


class VocabModel(torchon.Component):
    def __init__(self, artifacts):
        with open(artifacts["vocab"]) as f:
            self.vocab = set(f.read().split())
        self.weights = np.load(artifacts["weights"])

    def predict(self, data):
        index = {word: i for i, word in enumerate(sorted(self.vocab))}
        return [float(sum(self.weights[index[w]] for w in text.split() if w in self.vocab)) for text in data]
