import Foundation
import Datasets
import Eval
import Methods
import NN
import Tensors

/// Progress reports from `train`, for a command line or a runner to print.
public enum TrainingEvent {
    case evaluated(stage: String, knnTop1: Double, seconds: Double)
    case step(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Float, imagesPerSecond: Double, etaSeconds: Double)
    case epochFinished(epoch: Int, epochs: Int, loss: Float, imagesPerSecond: Double, etaSeconds: Double)
}

/// The shared training kernel: one cell, from data to kNN accuracy. `data` is the training and
/// test set (already loaded); the configuration picks the subset.
public func train(_ config: CellConfiguration, train fullTrain: LabeledImages, test fullTest: LabeledImages,
                  progress: (TrainingEvent) -> Void = { _ in }) throws -> CellResult {
    try config.validate(availableTrainImages: fullTrain.count)
    let clock = ContinuousClock(), started = clock.now
    let trainSet = fullTrain.prefix(config.trainImages ?? fullTrain.count)
    let testSet = fullTest.prefix(config.testImages ?? fullTest.count)
    var result = CellResult()
    result.trainImages = trainSet.count; result.testImages = testSet.count

    var rng = RandomGenerator(seed: config.seed, stream: 0xC0FFEE)
    let model = BarlowTwins(configuration: config.barlowTwins, backboneWidth: config.backboneWidth, rng: &rng)
    let parameters = model.parameters

    func evaluate(_ stage: String) -> Double {
        let t0 = clock.now
        let trainFeatures = extractFeatures(encoder: model.encoder, images: trainSet, recipe: config.augmentationA)
        let testFeatures = extractFeatures(encoder: model.encoder, images: testSet, recipe: config.augmentationA)
        let top1 = weightedKNNAccuracy(trainFeatures: trainFeatures, trainLabels: trainSet.labels,
                                       queryFeatures: testFeatures, queryLabels: testSet.labels,
                                       classCount: trainSet.classCount, neighbours: config.knnNeighbours,
                                       temperature: config.knnTemperature)
        progress(.evaluated(stage: stage, knnTop1: top1, seconds: (clock.now - t0).seconds))
        return top1
    }
    if config.evaluateAtInitialisation { result.knnTop1AtInitialisation = evaluate("initialisation") }

    let optimizer: Optimizer
    switch config.optimizer {
    case .lars: optimizer = LARS(momentum: config.momentum, weightDecay: config.weightDecay,
                                 trustCoefficient: config.trustCoefficient, clipTrustRatio: config.clipTrustRatio)
    case .sgd: optimizer = SGD(momentum: config.momentum, weightDecay: config.weightDecay)
    case .adamw: optimizer = AdamW(weightDecay: config.weightDecay)
    }
    let batch = config.batchSize
    let stepsPerEpoch = trainSet.count / batch     // the last partial batch is dropped
    let totalSteps = stepsPerEpoch * config.epochs
    let schedule = WarmupCosineSchedule(baseLearningRate: config.learningRate,
                                        warmupSteps: stepsPerEpoch * config.warmupEpochs, totalSteps: totalSteps)
    let views = Tensor(shape: [2 * batch, 32, 32, 3])
    var orderRng = RandomGenerator(seed: config.seed, stream: 0x5EED)
    var trainingSeconds = 0.0
    var step = 0
    result.losses.reserveCapacity(totalSteps)
    training: for epoch in 0 ..< config.epochs {
        let order = orderRng.permutation(trainSet.count)
        var epochLoss: Float = 0
        for s in 0 ..< stepsPerEpoch {
            let t0 = clock.now
            let indices = order[s * batch ..< (s + 1) * batch]
            augmentBatch(trainSet, indices: indices, recipe: config.augmentationA, seed: config.seed, step: step, view: 0, into: views, offset: 0)
            augmentBatch(trainSet, indices: indices, recipe: config.augmentationB, seed: config.seed, step: step, view: 1, into: views, offset: batch)
            let loss = model.trainingStep(views: views)
            result.losses.append(loss)
            guard loss.isFinite else {
                result.status = .diverged(step: step)
                result.finalLoss = loss
                break training
            }
            optimizer.step(parameters, learningRate: schedule.learningRate(atStep: step))
            step += 1
            epochLoss = loss
            trainingSeconds += (clock.now - t0).seconds
            let rate = Double(step * batch) / trainingSeconds
            let eta = Double((totalSteps - step) * batch) / max(rate, 1e-9)
            progress(.step(epoch: epoch + 1, epochs: config.epochs, step: s + 1, stepsPerEpoch: stepsPerEpoch,
                           loss: loss, imagesPerSecond: rate, etaSeconds: eta))
        }
        let rate = Double(step * batch) / max(trainingSeconds, 1e-9)
        let eta = Double((totalSteps - step) * batch) / max(rate, 1e-9)
        progress(.epochFinished(epoch: epoch + 1, epochs: config.epochs, loss: epochLoss, imagesPerSecond: rate, etaSeconds: eta))
        result.finalLoss = epochLoss
    }
    result.trainingSeconds = trainingSeconds
    result.imagesPerSecond = Double(step * batch) / max(trainingSeconds, 1e-9)
    if result.status == .ok { result.knnTop1 = evaluate("final") }
    result.totalSeconds = (clock.now - started).seconds
    return result
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
