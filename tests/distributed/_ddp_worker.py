"""Trains an AcceleratedImplicitRegressor on every launched process; rank 0 saves predictions.

Usage: ``torchrun --nproc_per_node N _ddp_worker.py OUT.npz BACKWARD BATCH_SIZE``.
"""

import sys
import warnings

import numpy as np
import torch

from sklearn_implicit.distributed import AcceleratedImplicitRegressor


def data():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(256, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] ** 2
    return X, y


def main(out, backward, batch_size):
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    X, y = data()
    est = AcceleratedImplicitRegressor(
        backward=backward,
        batch_size=batch_size,
        shuffle=False,
        max_epochs=5,
        lr=1e-2,
        n_iter=20,
        random_state=0,
    ).fit(X, y)
    state = est.net_.module_  # unwrapped after training
    if est.net_.history[-1, "train_loss"] is None:  # pragma: no cover
        raise RuntimeError("no training happened")
    from accelerate import PartialState

    ps = PartialState()
    if ps.is_main_process:
        np.savez(
            out,
            pred=est.predict(X),
            num_processes=ps.num_processes,
            loss=np.array(est.loss_curve_),
            wrapped=type(state).__name__,
        )
    # A clean shutdown: a rank that exits while the process group's threads still
    # run can abort ("terminate called without an active exception").
    ps.wait_for_everyone()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
