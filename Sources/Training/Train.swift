import Foundation
import Datasets
import Eval
import Methods
import NN
import Tensors

/// Progress reports from `train`, for a command line or a runner to print.
public enum TrainingEvent {
    case evaluated(stage: String, knnTop1: Double, health: Health, seconds: Double)
    case linearProbe(stage: String, top1: Double, seconds: Double)
    case memory(MemoryEstimate)
    case resumed(epoch: Int, path: String)
    case step(epoch: Int, epochs: Int, step: Int, stepsPerEpoch: Int, loss: Float, imagesPerSecond: Double, etaSeconds: Double)
    case epochFinished(epoch: Int, epochs: Int, loss: Float, imagesPerSecond: Double, etaSeconds: Double)
}

/// The shared training kernel: one cell, from data to kNN accuracy. `data` is the training and
/// test set (already loaded); the configuration picks the subset.
/// `stopAfterEpoch`, asked after every epoch's checkpoint, lets a caller interrupt the cell as
/// a kill would (the tests use it). `wrapMethod` receives the method as built and returns the
/// one to train: a caller that wants to watch or alter the steps wraps it there; by default it
/// is trained as it is; `observeOptimizer` receives the optimiser once it is built.
public func train(_ config: CellConfiguration, train fullTrain: LabeledImages, test fullTest: LabeledImages,
                  wrapMethod: (SelfSupervisedMethod) -> SelfSupervisedMethod = { $0 },
                  observeOptimizer: (Optimizer) -> Void = { _ in },
                  stopAfterEpoch: (Int) -> Bool = { _ in false },
                  progress: (TrainingEvent) -> Void = { _ in }) throws -> CellResult {
    try config.validate(availableTrainImages: fullTrain.count)
    let clock = ContinuousClock(), started = clock.now
    let trainSet = fullTrain.prefix(config.trainImages ?? fullTrain.count)
    let testSet = fullTest.prefix(config.testImages ?? fullTest.count)
    var result = CellResult()
    result.trainImages = trainSet.count; result.testImages = testSet.count
    let estimate = MemoryEstimate(config, trainImages: trainSet.count, testImages: testSet.count)
    if let available = config.memoryLimitBytes ?? MemoryEstimate.availableBytes, estimate.totalBytes > available {
        throw InsufficientMemoryError(estimate: estimate, availableBytes: available)
    }
    progress(.memory(estimate))

    var rng = RandomGenerator(seed: config.seed, stream: 0xC0FFEE)
    let model = wrapMethod(config.method.makeMethod(backboneWidth: config.backboneWidth, rng: &rng))
    let parameters = model.parameters

    /// kNN top-1 (and the linear probe's, when asked) on frozen features of the current encoder,
    /// and the health figures on the test set.
    func evaluate(_ stage: String, linear: Bool = false) -> (knn: Double, linear: Double, health: Health) {
        let t0 = clock.now
        let trainRaw = extractFeatures(encoder: model.encoder, images: trainSet, recipe: config.augmentationA, l2Normalize: false)
        let testRaw = extractFeatures(encoder: model.encoder, images: testSet, recipe: config.augmentationA, l2Normalize: false)
        let top1 = weightedKNNAccuracy(trainFeatures: l2Normalized(trainRaw), trainLabels: trainSet.labels,
                                       queryFeatures: l2Normalized(testRaw), queryLabels: testSet.labels,
                                       classCount: trainSet.classCount, neighbours: config.knnNeighbours,
                                       temperature: config.knnTemperature)
        let health = Health(embeddingStandardDeviation: normalizedEmbeddingStandardDeviation(
                                projectorEmbeddings(model.projector, features: testRaw)),
                            rankMe: rankMe(testRaw), featureDimensions: testRaw.columns,
                            embeddingDimensions: model.projector.outputDimensions)
        progress(.evaluated(stage: stage, knnTop1: top1, health: health, seconds: (clock.now - t0).seconds))
        guard linear else { return (top1, .nan, health) }
        let t1 = clock.now
        var probe = LinearProbe()
        probe.seed = config.seed
        let linearTop1 = probe.accuracy(trainFeatures: trainRaw, trainLabels: trainSet.labels, testFeatures: testRaw,
                                        testLabels: testSet.labels, classCount: trainSet.classCount)
        progress(.linearProbe(stage: stage, top1: linearTop1, seconds: (clock.now - t1).seconds))
        return (top1, linearTop1, health)
    }
    let optimizer: Optimizer
    switch config.optimizer {
    case .lars: optimizer = LARS(momentum: config.momentum, weightDecay: config.weightDecay,
                                 trustCoefficient: config.trustCoefficient, clipTrustRatio: config.clipTrustRatio)
    case .sgd: optimizer = SGD(momentum: config.momentum, weightDecay: config.weightDecay)
    case .adamw: optimizer = AdamW(weightDecay: config.weightDecay)
    }
    observeOptimizer(optimizer)
    let batch = config.batchSize
    let stepsPerEpoch = trainSet.count / batch     // the last partial batch is dropped
    let totalSteps = stepsPerEpoch * config.epochs
    let schedule = WarmupCosineSchedule(baseLearningRate: config.learningRate,
                                        warmupSteps: stepsPerEpoch * config.warmupEpochs, totalSteps: totalSteps)
    let views = Tensor(shape: [2 * batch, 32, 32, 3])
    let cropPlan = model.smallCrops
    let crops: Tensor? = cropPlan.count > 0 ? Tensor(shape: [cropPlan.count * batch, cropPlan.size, cropPlan.size, 3]) : nil
    var cropRecipe = config.augmentationA
    cropRecipe.cropScale = (cropPlan.scaleLow, cropPlan.scaleHigh)
    var orderRng = RandomGenerator(seed: config.seed, stream: 0x5EED)
    var trainingSeconds = 0.0
    var step = 0
    var firstEpoch = 0
    let stateTensors = parameters.map(\.value) + optimizer.stateTensors(for: parameters) + model.extraStateTensors
    if let path = config.checkpointPath, FileManager.default.fileExists(atPath: path) {
        let saved = try Checkpoint.read(path, fingerprint: config.trainingFingerprint, into: stateTensors)
        firstEpoch = saved.completedEpochs; step = firstEpoch * stepsPerEpoch
        optimizer.stepsTaken = saved.optimizerSteps
        trainingSeconds = saved.trainingSeconds; result.losses = saved.losses
        result.knnTop1AtInitialisation = saved.knnAtInitialisation
        result.linearTop1AtInitialisation = saved.linearAtInitialisation
        progress(.resumed(epoch: firstEpoch, path: path))
    } else if config.evaluateAtInitialisation {
        // the probe draws from its own generator: training takes the same steps with it or without
        let initial = evaluate("initialisation", linear: config.linearProbe)
        result.knnTop1AtInitialisation = initial.knn; result.linearTop1AtInitialisation = initial.linear
    }
    result.losses.reserveCapacity(totalSteps)
    training: for epoch in 0 ..< config.epochs {
        let order = orderRng.permutation(trainSet.count)   // drawn for skipped epochs too: the same order after a resume
        if epoch < firstEpoch { continue }
        var epochLoss: Float = 0
        for s in 0 ..< stepsPerEpoch {
            let t0 = clock.now
            let indices = order[s * batch ..< (s + 1) * batch]
            augmentBatch(trainSet, indices: indices, recipe: config.augmentationA, seed: config.seed, step: step, view: 0, into: views, offset: 0)
            augmentBatch(trainSet, indices: indices, recipe: config.augmentationB, seed: config.seed, step: step, view: 1, into: views, offset: batch)
            let context = StepContext(step: step, totalSteps: totalSteps, epoch: epoch, stepsPerEpoch: stepsPerEpoch, seed: config.seed)
            if let crops = crops {
                for v in 0 ..< cropPlan.count {
                    augmentBatch(trainSet, indices: indices, recipe: cropRecipe, seed: config.seed, step: step, view: 2 + v,
                                 into: crops, offset: v * batch, outputSize: cropPlan.size)
                }
            }
            let loss = model.trainingStep(views: views, smallCrops: crops, context: context)
            result.losses.append(loss)
            guard loss.isFinite else {
                result.status = .diverged(step: step)
                result.finalLoss = loss
                break training
            }
            optimizer.step(parameters, learningRate: schedule.learningRate(atStep: step))
            model.afterOptimizerStep(context: context)
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
        if let path = config.checkpointPath, epoch + 1 < config.epochs {
            try Checkpoint(fingerprint: config.trainingFingerprint, completedEpochs: epoch + 1, optimizerSteps: optimizer.stepsTaken,
                           trainingSeconds: trainingSeconds, knnAtInitialisation: result.knnTop1AtInitialisation,
                           linearAtInitialisation: result.linearTop1AtInitialisation, losses: result.losses).write(tensors: stateTensors, to: path)
            if stopAfterEpoch(epoch + 1) { result.status = .interrupted(afterEpoch: epoch + 1); break training }
        }
    }
    result.trainingSeconds = trainingSeconds
    result.imagesPerSecond = Double(step * batch) / max(trainingSeconds, 1e-9)
    if case .interrupted = result.status { return result }
    if result.status == .ok {
        let final = evaluate("final", linear: config.linearProbe)
        result.knnTop1 = final.knn; result.linearTop1 = final.linear; result.health = final.health
    }
    if let path = config.checkpointPath { try? FileManager.default.removeItem(atPath: path) }
    result.totalSeconds = (clock.now - started).seconds
    return result
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
