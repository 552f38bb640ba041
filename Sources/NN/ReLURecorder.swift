import Tensors

/// The ReLUs of the forward passes, for `sslbench parity-export`: while `record` is set, every
/// layer that applies a ReLU (a batch norm with `fusedReLU`, a residual block's output, `ReLU`)
/// hands it its output after the ReLU, in call order. A unit passed the gradient exactly when its
/// output is positive, so the outputs tell an independent implementation which side of each kink
/// sslbench took. Unset (the default), the layers pay one check per call.
public enum ReLURecorder {
    nonisolated(unsafe) public static var record: ((Tensor) -> Void)?
}
