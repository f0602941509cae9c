"""Float64 NumPy port of the SOAP authors' reference code (github.com/nikhilvyas/SOAP,
``soap.py``, commit a1e5535: ``SOAP.step``, ``init_preconditioner``, ``project``,
``project_back``, ``update_preconditioner``, ``get_orthogonal_matrix``,
``get_orthogonal_matrix_QR``, ``merge_dims``), line by line, with
``data_format="channels_first"`` (no permutation). Never imports gradtx or optax.

``SOAP.update(grads, params)`` returns ``p_new - p`` for each leaf of a dict, as the
authors' in-place ``step`` would change ``p``.
"""

from __future__ import annotations

import numpy as np


class SOAP:
    def __init__(self, lr=3e-3, betas=(0.95, 0.95), shampoo_beta=-1, eps=1e-8,
                 weight_decay=0.01, precondition_frequency=10, max_precond_dim=10000,
                 merge_dims=False, precondition_1d=False, normalize_grads=False,
                 correct_bias=True):
        self.lr, self.betas, self.eps, self.wd = lr, betas, eps, weight_decay
        self.shampoo_beta = shampoo_beta if shampoo_beta >= 0 else betas[1]
        self.freq, self.max_dim, self.merge = precondition_frequency, max_precond_dim, merge_dims
        self.p1d, self.normalize, self.correct_bias = precondition_1d, normalize_grads, correct_bias
        self.state: dict = {}
        self.calls = 0

    def init(self, params):
        self.state = {k: {} for k in params}
        self.calls = 0

    # --- the authors' helpers -------------------------------------------------------
    def merge_dims(self, grad):
        new_shape, curr = [], 1
        for sh in grad.shape:
            temp = curr * sh
            if temp > self.max_dim:
                if curr > 1:
                    new_shape.append(curr)
                    curr = sh
                else:
                    new_shape.append(sh)
                    curr = 1
            else:
                curr = temp
        if curr > 1 or len(new_shape) == 0:
            new_shape.append(curr)
        return grad.reshape(new_shape)

    def init_preconditioner(self, grad, state):
        state["GG"] = []
        if grad.ndim == 1:
            if not self.p1d or grad.shape[0] > self.max_dim:
                state["GG"].append([])
            else:
                state["GG"].append(np.zeros((grad.shape[0], grad.shape[0])))
        else:
            if self.merge:
                grad = self.merge_dims(grad)
            for sh in grad.shape:
                state["GG"].append([] if sh > self.max_dim else np.zeros((sh, sh)))
        state["Q"] = None

    def project(self, grad, state):
        original_shape = grad.shape
        if self.merge:
            grad = self.merge_dims(grad)
        for mat in state["Q"]:
            if len(mat) > 0:
                grad = np.tensordot(grad, mat, axes=([0], [0]))
            else:
                grad = np.transpose(grad, list(range(1, grad.ndim)) + [0])
        if self.merge:
            grad = grad.reshape(original_shape)
        return grad

    def project_back(self, grad, state):
        original_shape = grad.shape
        if self.merge:
            grad = self.merge_dims(grad)
        for mat in state["Q"]:
            if len(mat) > 0:
                grad = np.tensordot(grad, mat, axes=([0], [1]))
            else:
                grad = np.transpose(grad, list(range(1, grad.ndim)) + [0])
        if self.merge:
            grad = grad.reshape(original_shape)
        return grad

    def update_preconditioner(self, grad, state):
        if state["Q"] is not None:
            state["exp_avg"] = self.project_back(state["exp_avg"], state)
        b = self.shampoo_beta
        if grad.ndim == 1:
            if self.p1d and grad.shape[0] <= self.max_dim:
                outer = np.outer(grad, grad)
                state["GG"][0] = state["GG"][0] + (1 - b) * (outer - state["GG"][0])
        else:
            g = self.merge_dims(grad) if self.merge else grad
            for idx, sh in enumerate(g.shape):
                if sh <= self.max_dim:
                    other = [i for i in range(g.ndim) if i != idx]
                    outer = np.tensordot(g, g, axes=(other, other))
                    state["GG"][idx] = state["GG"][idx] + (1 - b) * (outer - state["GG"][idx])
        if state["Q"] is None:
            state["Q"] = self.get_orthogonal_matrix(state["GG"])
        if state["step"] > 0 and state["step"] % self.freq == 0:
            state["Q"] = self.get_orthogonal_matrix_QR(state)
        if state["step"] > 0:
            state["exp_avg"] = self.project(state["exp_avg"], state)

    def get_orthogonal_matrix(self, mats):
        final = []
        for m in mats:
            if len(m) == 0:
                final.append([])
                continue
            _, q = np.linalg.eigh(m + 1e-30 * np.eye(m.shape[0]))
            final.append(np.flip(q, axis=1))
        return final

    def get_orthogonal_matrix_QR(self, state):
        orig_shape = state["exp_avg_sq"].shape
        exp_avg_sq = self.merge_dims(state["exp_avg_sq"]) if self.merge else state["exp_avg_sq"]
        final = []
        for ind, (m, o) in enumerate(zip(state["GG"], state["Q"], strict=True)):
            if len(m) == 0:
                final.append([])
                continue
            est_eig = np.diag(o.T @ m @ o)
            sort_idx = np.argsort(-est_eig, kind="stable")
            exp_avg_sq = np.take(exp_avg_sq, sort_idx, axis=ind)
            o = o[:, sort_idx]
            q, _ = np.linalg.qr(m @ o)
            final.append(q)
        state["exp_avg_sq"] = exp_avg_sq.reshape(orig_shape) if self.merge else exp_avg_sq
        return final

    # --- SOAP.step, on one leaf -------------------------------------------------------
    def step_leaf(self, p, grad, state):
        if "step" not in state:
            state["step"] = 0
        if "exp_avg" not in state:
            state["exp_avg"] = np.zeros_like(grad)
            state["exp_avg_sq"] = np.zeros_like(grad)
        if "Q" not in state:
            self.init_preconditioner(grad, state)
            self.update_preconditioner(grad, state)
            return p  # the first step only initialises the preconditioner
        grad_projected = self.project(grad, state)
        beta1, beta2 = self.betas
        state["step"] += 1
        state["exp_avg"] = beta1 * state["exp_avg"] + (1 - beta1) * grad_projected
        state["exp_avg_sq"] = beta2 * state["exp_avg_sq"] + (1 - beta2) * grad_projected**2
        denom = np.sqrt(state["exp_avg_sq"]) + self.eps
        step_size = self.lr
        if self.correct_bias:
            bc1 = 1.0 - beta1 ** state["step"]
            bc2 = 1.0 - beta2 ** state["step"]
            step_size = step_size * bc2**0.5 / bc1
        norm_grad = self.project_back(state["exp_avg"] / denom, state)
        if self.normalize:
            norm_grad = norm_grad / (1e-30 + np.mean(norm_grad**2) ** 0.5)
        p = p - step_size * norm_grad
        if self.wd > 0.0:
            p = p - self.lr * self.wd * p
        self.update_preconditioner(grad, state)
        return p

    def update(self, grads, params):
        out = {}
        for k, g in grads.items():
            p = np.asarray(params[k], np.float64)
            out[k] = self.step_leaf(p, np.asarray(g, np.float64), self.state[k]) - p
        return out
