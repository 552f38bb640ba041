import NN
import Tensors

extension Tensor {
    /// Copies rows `range` of `source` (a [rows, …] tensor) into this tensor, reshaped to fit.
    func setRows(of source: Tensor, _ range: Range<Int>) {
        let rowSize = source.count / max(source.shape[0], 1)
        reshape([range.count] + source.shape.dropFirst())
        data.update(from: source.data + range.lowerBound * rowSize, count: range.count * rowSize)
    }
    /// Writes `part` into rows starting at `row` (the tensor already has its shape).
    func placeRows(_ part: Tensor, at row: Int) {
        let rowSize = part.count / max(part.shape[0], 1)
        (data + row * rowSize).update(from: part.data, count: part.count)
    }
}

/// θ_target ← τ·θ_target + (1 − τ)·θ_online for matching parameter lists (BYOL Eq. 1, MoCo).
func exponentialMovingAverage(target: [Parameter], online: [Parameter], momentum tau: Float) {
    precondition(target.count == online.count)
    for (t, o) in zip(target, online) {
        let tp = t.value.data, op = o.value.data
        for i in 0 ..< t.value.count { tp[i] = tau * tp[i] + (1 - tau) * op[i] }
    }
}

/// Copies the parameter values of `source` into `destination` (same architecture).
func copyParameters(from source: [Parameter], to destination: [Parameter]) {
    precondition(source.count == destination.count)
    for (s, d) in zip(source, destination) {
        precondition(s.value.count == d.value.count)
        d.value.data.update(from: s.value.data, count: s.value.count)
    }
}

/// BYOL's target momentum schedule: τ = 1 − (1 − τ_base)·(cos(π·k/K) + 1)/2, from τ_base at
/// the first step to 1 at the last (BYOL §3.2).
public func cosineMomentum(base: Float, progress: Double) -> Float {
    1 - (1 - base) * Float((Foundation.cos(Double.pi * min(max(progress, 0), 1)) + 1) / 2)
}

import Foundation
