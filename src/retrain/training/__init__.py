"""retrain.training: the built-in trainers, the notebook runner and the `train` use case.

Importing this package imports nothing heavy; each module loads its libraries when used:
- `anomaly`, `forecast`: the built-in models' trainers and evaluations (`train_and_evaluate`);
- `notebooks` (with `kernel`, `nbfile`): run any notebook with papermill (`run_notebook(NotebookJob)`);
- `interrupts`: SIGTERM as an exception; `keep`: a failed run's executed notebook;
- `train`: fetch data -> run the notebook -> check model.pkl -> register a candidate (`train(TrainRequest)`);
- `gpu`: CUDA detection and the GPU/CPU decision; `reference`: the drift reference stored with a model;
- `outputs`, `handoff`, `validate`: what notebooks write, read and must produce (the notebook contract);
- `estimators`: classes inside pickled artefacts (keep their module path stable).
"""
