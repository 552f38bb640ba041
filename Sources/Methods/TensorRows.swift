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

extension Tensor {
    /// Adds `part` into rows starting at `row` (the tensor already has its shape).
    func addRows(_ part: Tensor, at row: Int) {
        let rowSize = part.count / max(part.shape[0], 1)
        let d = data + row * rowSize, s = part.data
        for i in 0 ..< part.count { d[i] += s[i] }
    }
}
