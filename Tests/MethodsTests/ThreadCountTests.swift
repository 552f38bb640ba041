import XCTest
@testable import Methods
import NN
import Tensors

/// The partition count (with it the thread count) may change the order in which a step sums its
/// terms (so its last bits), never what it sums: every method's loss and gradients after one step
/// agree at 1 thread over 1 partition and 2 threads over 2.
final class ThreadCountTests: XCTestCase {
    override func tearDown() { Parallel.configure(threads: 2) }

    func testAStepDoesNotDependOnTheThreadCount() {
        for base in MethodCatalog.all {
            var configuration = base
            configuration.setHeadWidths(hidden: 32, projection: 16)
            func step(threads: Int) -> (loss: Float, gradients: [[Float]]) {
                Parallel.configure(threads: threads, partitions: threads)
                var rng = RandomGenerator(seed: 3)
                let method = configuration.makeMethod(backboneWidth: 4, rng: &rng)
                var viewRNG = RandomGenerator(seed: 4)
                let views = GradientCheck.random([32, 32, 32, 3], rng: &viewRNG)   // two views of 16 images
                let loss = method.trainingStep(views: views, smallCrops: nil,
                                               context: StepContext(step: 3, totalSteps: 10, epoch: 0, stepsPerEpoch: 10, seed: 5))
                return (loss, method.parameters.map { $0.grad.array })
            }
            let one = step(threads: 1), two = step(threads: 2)
            XCTAssertTrue(two.loss.isFinite, configuration.name)
            XCTAssertEqual(one.loss, two.loss, accuracy: 1e-4 * max(1, abs(two.loss)), configuration.name)
            XCTAssertEqual(one.gradients.count, two.gradients.count)
            // each parameter's difference against its own largest entry, or against a thousandth of the
            // step's largest entry for a parameter whose gradient is all but zero (rounding dominates it)
            let largest = two.gradients.map { $0.map(abs).max() ?? 0 }.max() ?? 0
            var worst: Float = 0
            for (a, b) in zip(one.gradients, two.gradients) {
                let scale = max(b.map(abs).max() ?? 0, 1e-3 * largest, 1e-12)
                worst = max(worst, zip(a, b).map { abs($0 - $1) / scale }.max() ?? 0)
            }
            XCTAssertLessThan(worst, 1e-3, "\(configuration.name): a gradient differs by \(worst) of its largest entry between 1 and 2 threads")
        }
    }
}
