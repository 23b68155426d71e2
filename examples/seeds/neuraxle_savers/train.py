"""Fit the pipeline and save a full dump of it: python train.py"""

import json

import numpy as np
from steps import Pipeline, QueuedLinearModel, StandardScaler

import torchon

rng = np.random.default_rng(0)
x = rng.uniform(-5, 5, size=(200, 2))
y = 3 * x[:, 0] - 2 * x[:, 1] + 1  # what the pipeline should learn

pipeline = Pipeline([StandardScaler(), QueuedLinearModel(ridge=0.0)])
pipeline.setup()  # makes the model's queue
pipeline.fit(x, y)

torchon.save(pipeline, "cache/my_pipeline")
print(json.dumps(pipeline.predict(np.array([[2.0, 1.0], [-3.0, 0.5]])).tolist()))  # [5.0, -9.0]
