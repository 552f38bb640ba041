import XCTest
@testable import Datasets
import Tensors

final class AugmentationTests: XCTestCase {
    func randomImage(_ seed: UInt64) -> [UInt8] {
        var rng = RandomGenerator(seed: seed)
        return (0 ..< LabeledImages.pixelsPerImage).map { _ in UInt8(rng.int(below: 256)) }
    }

    func augmented(_ image: [UInt8], recipe: AugmentationRecipe, seed: UInt64) -> [Float] {
        var out = [Float](repeating: 0, count: LabeledImages.pixelsPerImage)
        var rng = RandomGenerator(seed: seed)
        image.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { augment(image: src.baseAddress!, recipe: recipe, rng: &rng, output: $0.baseAddress!) }
        }
        return out
    }

    func testSameSeedSameViewOtherSeedOtherView() {
        let image = randomImage(1), recipe = AugmentationRecipe.barlowTwinsCIFAR(view: 1)
        XCTAssertEqual(augmented(image, recipe: recipe, seed: 5), augmented(image, recipe: recipe, seed: 5))
        XCTAssertNotEqual(augmented(image, recipe: recipe, seed: 5), augmented(image, recipe: recipe, seed: 6))
    }

    func testCropBoxesStayInsideAndFollowTheScaleRange() {
        var rng = RandomGenerator(seed: 2)
        var areas: [Float] = []
        for _ in 0 ..< 2000 {
            let b = randomResizedCropBox(height: 32, width: 32, scale: (0.08, 1), ratio: (0.75, 4.0 / 3.0), rng: &rng)
            XCTAssertTrue(b.top >= 0 && b.left >= 0 && b.top + b.height <= 32 && b.left + b.width <= 32 && b.height > 0 && b.width > 0)
            areas.append(Float(b.height * b.width) / 1024)
        }
        XCTAssertLessThan(areas.min()!, 0.15)
        XCTAssertGreaterThan(areas.max()!, 0.9)
        XCTAssertEqual(areas.reduce(0, +) / Float(areas.count), 0.54, accuracy: 0.06)   // E[U(0.08, 1)] = 0.54
    }

    func testIdentityRecipeOnlyNormalises() {
        var r = AugmentationRecipe()
        r.cropScale = (1, 1); r.cropRatio = (1, 1); r.flipProbability = 0; r.jitterProbability = 0; r.grayscaleProbability = 0
        let image = randomImage(3)
        let out = augmented(image, recipe: r, seed: 1)
        for i in [0, 1, 2, 100, 3071] {
            let c = i % 3
            let mean = [r.mean.0, r.mean.1, r.mean.2][c], std = [r.std.0, r.std.1, r.std.2][c]
            XCTAssertEqual(out[i], (Float(image[i]) / 255 - mean) / std, accuracy: 1e-5)
        }
    }

    /// A removed part is never applied: with the crop the whole image, every part forced on
    /// (probability 1) and then removed, each of 50 seeds leaves the image as it was; with one
    /// part kept, that part changes it (so the check can fail).
    func testRemovedPartsAreNeverApplied() {
        var forced = AugmentationRecipe()
        forced.cropScale = (1, 1); forced.cropRatio = (1, 1)
        forced.flipProbability = 1; forced.jitterProbability = 1; forced.grayscaleProbability = 1
        forced.blurProbability = 1; forced.solarizeProbability = 1
        forced.mean = (0, 0, 0); forced.std = (1, 1, 1)
        let image = randomImage(7)
        let original = image.map { Float($0) / 255 }
        for seed in 0 ..< 50 as Range<UInt64> {
            let out = augmented(image, recipe: forced.removing(AugmentationPart.allCases), seed: seed)
            XCTAssertEqual(zip(out, original).map { abs($0 - $1) }.max()!, 0, accuracy: 1e-6, "seed \(seed)")
        }
        for kept in AugmentationPart.allCases {
            let out = augmented(image, recipe: forced.removing(AugmentationPart.allCases.filter { $0 != kept }), seed: 3)
            XCTAssertGreaterThan(zip(out, original).map { abs($0 - $1) }.max()!, 0.05, "\(kept) kept")
        }
        let r = forced.removing([.colourJitter, .grayscale])
        XCTAssertEqual([r.jitterProbability, r.grayscaleProbability, r.flipProbability, r.blurProbability, r.solarizeProbability], [0, 0, 1, 1, 1])
    }

    func testFlipMirrorsRows() {
        var r = AugmentationRecipe()
        r.cropScale = (1, 1); r.cropRatio = (1, 1); r.flipProbability = 1; r.jitterProbability = 0; r.grayscaleProbability = 0
        r.mean = (0, 0, 0); r.std = (1, 1, 1)
        let image = randomImage(4)
        let out = augmented(image, recipe: r, seed: 1)
        XCTAssertEqual(out[(5 * 32 + 0) * 3 + 1], Float(image[(5 * 32 + 31) * 3 + 1]) / 255, accuracy: 1e-6)
    }

    func testGrayscaleAndSolarise() {
        var r = AugmentationRecipe()
        r.jitterProbability = 0; r.grayscaleProbability = 1; r.solarizeProbability = 1
        r.mean = (0, 0, 0); r.std = (1, 1, 1)
        let out = augmented(randomImage(5), recipe: r, seed: 1)
        for p in 0 ..< 1024 {
            XCTAssertEqual(out[3 * p], out[3 * p + 1]); XCTAssertEqual(out[3 * p], out[3 * p + 2])
            XCTAssertLessThanOrEqual(out[3 * p], 0.5)   // solarised: every value ≥ 0.5 was inverted
        }
    }

    func testHueRotationIsARealRotation() {
        // a third of the circle takes red to green and green to blue
        let red = rotateHue(1, 0, 0, by: 1.0 / 3.0)
        XCTAssertEqual(red.0, 0, accuracy: 1e-5); XCTAssertEqual(red.1, 1, accuracy: 1e-5); XCTAssertEqual(red.2, 0, accuracy: 1e-5)
        let green = rotateHue(0, 1, 0, by: 1.0 / 3.0)
        XCTAssertEqual(green.2, 1, accuracy: 1e-5)
        // gray has no hue; a full turn is the identity; value and saturation are kept
        XCTAssertTrue(rotateHue(0.4, 0.4, 0.4, by: 0.25) == (0.4, 0.4, 0.4))
        let c = rotateHue(0.9, 0.3, 0.5, by: 1)
        XCTAssertEqual(c.0, 0.9, accuracy: 1e-5); XCTAssertEqual(c.1, 0.3, accuracy: 1e-5); XCTAssertEqual(c.2, 0.5, accuracy: 1e-5)
        let d = rotateHue(0.9, 0.3, 0.5, by: 0.1)
        XCTAssertEqual(max(d.0, d.1, d.2), 0.9, accuracy: 1e-5); XCTAssertEqual(min(d.0, d.1, d.2), 0.3, accuracy: 1e-5)
    }

    func testBlurKeepsAConstantImageAndSmoothsAnEdge() {
        var x = [Float](repeating: 0.5, count: 3 * 1024), tmp = [Float](repeating: 0, count: 3 * 1024)
        gaussianBlur(&x, scratch: &tmp, side: 32, sigma: 1.5, kernelSize: 3)
        XCTAssertEqual(x.max()!, 0.5, accuracy: 1e-6); XCTAssertEqual(x.min()!, 0.5, accuracy: 1e-6)
        var edge = [Float](repeating: 0, count: 3 * 1024)
        for y in 0 ..< 32 { for xx in 16 ..< 32 { for c in 0 ..< 3 { edge[(y * 32 + xx) * 3 + c] = 1 } } }
        gaussianBlur(&edge, scratch: &tmp, side: 32, sigma: 1.5, kernelSize: 3)
        XCTAssertGreaterThan(edge[(5 * 32 + 15) * 3], 0.1); XCTAssertLessThan(edge[(5 * 32 + 16) * 3], 0.9)
    }

    func testBatchAugmentationDoesNotDependOnThreads() {
        var pixels: [UInt8] = []
        for s in 0 ..< 8 { pixels += randomImage(UInt64(10 + s)) }
        let images = LabeledImages(pixels: pixels, labels: [Int32](repeating: 0, count: 8), classCount: 10)
        let one = Tensor(shape: [8, 32, 32, 3]), two = Tensor(shape: [8, 32, 32, 3])
        Parallel.configure(threads: 1, partitions: 1)
        augmentBatch(images, indices: [3, 1, 4, 0, 5, 2, 7, 6], recipe: .barlowTwinsCIFAR(view: 1), seed: 9, step: 4, view: 1, into: one, offset: 0)
        Parallel.configure(threads: 2)
        augmentBatch(images, indices: [3, 1, 4, 0, 5, 2, 7, 6], recipe: .barlowTwinsCIFAR(view: 1), seed: 9, step: 4, view: 1, into: two, offset: 0)
        XCTAssertEqual(one.array, two.array)
    }
}
