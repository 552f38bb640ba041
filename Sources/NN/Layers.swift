import Tensors

/// y = max(0, x); ∂L/∂x = ∂L/∂y where y > 0.
public final class ReLU: Layer {
    public let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    public init() {}
    public var parameters: [Parameter] { [] }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        output.reshape(x.shape)
        let xp = x.data, yp = output.data
        Parallel.chunks(x.count) { _, r in for i in r { yp[i] = max(xp[i], 0) } }
        ReLURecorder.record?(output)
        return output
    }
    public func backward(_ gradOutput: Tensor) -> Tensor {
        gradInput.reshape(output.shape)
        let yp = output.data, dy = gradOutput.data, dx = gradInput.data
        Parallel.chunks(output.count) { _, r in for i in r { dx[i] = yp[i] > 0 ? dy[i] : 0 } }
        return gradInput
    }
}

/// [N, H, W, C] → [N, C]: y[n, c] = (1/HW) Σ_{h,w} x[n, h, w, c]; ∂L/∂x = ∂L/∂y / HW everywhere.
public final class GlobalAveragePool: Layer {
    public let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])
    private var inputShape: [Int] = []
    public init() {}
    public var parameters: [Parameter] { [] }
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        precondition(x.shape.count == 4)
        inputShape = x.shape
        let n = x.shape[0], pixels = x.shape[1] * x.shape[2], c = x.shape[3]
        output.reshape([n, c])
        let xp = x.data, yp = output.data, inv = 1 / Float(pixels)
        Parallel.chunks(n) { _, images in
            for i in images {
                let y = yp + i * c
                y.update(repeating: 0, count: c)
                for p in 0 ..< pixels { let px = xp + (i * pixels + p) * c; for j in 0 ..< c { y[j] += px[j] } }
                for j in 0 ..< c { y[j] *= inv }
            }
        }
        return output
    }
    public func backward(_ gradOutput: Tensor) -> Tensor {
        gradInput.reshape(inputShape)
        let n = inputShape[0], pixels = inputShape[1] * inputShape[2], c = inputShape[3]
        let dy = gradOutput.data, dx = gradInput.data, inv = 1 / Float(pixels)
        Parallel.chunks(n) { _, images in
            for i in images {
                let g = dy + i * c
                for p in 0 ..< pixels { let d = dx + (i * pixels + p) * c; for j in 0 ..< c { d[j] = g[j] * inv } }
            }
        }
        return gradInput
    }
}

/// Fully connected layer on [N, inputDimensions]: y = x·W (+ b), W stored [in, out].
/// Initialisation as PyTorch's default: W and b ~ U(±1/√in).
public final class Linear: Layer {
    public let inputDimensions: Int, outputDimensions: Int
    public let weight: Parameter
    public let bias: Parameter?
    public var parameters: [Parameter] { [weight, bias].compactMap { $0 } }
    private var input: Tensor?
    public let output = Tensor(shape: [0])
    private let gradInput = Tensor(shape: [0])

    public init(inputDimensions: Int, outputDimensions: Int, bias: Bool = true, rng: inout RandomGenerator) {
        self.inputDimensions = inputDimensions; self.outputDimensions = outputDimensions
        weight = Parameter(name: "linear.weight", shape: [inputDimensions, outputDimensions], kind: .weight)
        self.bias = bias ? Parameter(name: "linear.bias", shape: [outputDimensions], kind: .biasOrNorm) : nil
        initialiseUniform(weight.value, fanIn: inputDimensions, rng: &rng)
        if let b = self.bias { initialiseUniform(b.value, fanIn: inputDimensions, rng: &rng) }
    }

    private func profileName(_ x: Tensor) -> String { "linear \(x.rows)×\(inputDimensions)→\(outputDimensions)" }

    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        StepProfile.measure(profileName(x) + " forward", flops: Double(2 * x.rows * inputDimensions * outputDimensions)) { forwardPass(x) }
    }

    public func backward(_ gradOutput: Tensor) -> Tensor {
        StepProfile.measure(profileName(gradOutput) + " backward", flops: Double(4 * gradOutput.rows * inputDimensions * outputDimensions)) {
            backwardPass(gradOutput)
        }
    }

    private func forwardPass(_ x: Tensor) -> Tensor {
        precondition(x.columns == inputDimensions, "Linear(\(inputDimensions)→\(outputDimensions)) got \(x.shape)")
        input = x
        let n = x.rows, out = outputDimensions
        output.reshape([n, out])
        parallelGemm(m: n, n: out, k: inputDimensions, a: x.data, lda: inputDimensions,
                     b: weight.value.data, ldb: out, c: output.data, ldc: out)
        if let b = bias {
            let yp = output.data, bp = b.value.data
            Parallel.chunks(n) { _, r in for i in r { for j in 0 ..< out { yp[i * out + j] += bp[j] } } }
        }
        return output
    }

    private func backwardPass(_ gradOutput: Tensor) -> Tensor {
        guard let x = input else { fatalError("Linear.backward before forward") }
        let n = x.rows, out = outputDimensions, inp = inputDimensions
        // ∂L/∂W += xᵀ·∂L/∂y
        parallelGemm(transposeA: true, m: inp, n: out, k: n, a: x.data, lda: inp,
                     b: gradOutput.data, ldb: out, beta: 1, c: weight.grad.data, ldc: out)
        // ∂L/∂b += Σ_n ∂L/∂y
        if let b = bias {
            let g = b.grad.data, dy = gradOutput.data
            for i in 0 ..< n { for j in 0 ..< out { g[j] += dy[i * out + j] } }
        }
        // ∂L/∂x = ∂L/∂y·Wᵀ
        gradInput.reshape(x.shape)
        parallelGemm(transposeB: true, m: n, n: inp, k: out, a: gradOutput.data, lda: out,
                     b: weight.value.data, ldb: out, c: gradInput.data, ldc: inp)
        return gradInput
    }
}

extension Sequential {
    /// The output width of the last linear layer (0 when there is none).
    public var outputDimensions: Int { layers.reversed().compactMap { ($0 as? Linear)?.outputDimensions }.first ?? 0 }
}
