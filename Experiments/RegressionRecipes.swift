import Methods
import Training

/// The cells of `make regress` (README, "Accuracy regression"): the `methods` table at the `ci`
/// scale, with a recipe of their own for the methods that do not learn there.
public enum RegressionRecipes {
    /// The cell `make regress` runs for one cell of the `methods` table at the `ci` scale.
    /// Barlow Twins, SimCLR, MoCo v3 and SDMP run the table's
    /// cell as declared. BYOL and SwAV end below their kNN at initialisation there (README,
    /// "Accuracy regression"), and a check cannot guard a method that does not learn, so each
    /// gets the smallest recipe measured to learn on every seed, still width 8 with the same heads:
    /// - BYOL: batch 32 (four times the optimiser steps of batch 64 on twice the images), 8192
    ///   training images, 8 epochs.
    /// - SwAV: the milder BYOL / Barlow Twins augmentation (the strong one stalls SwAV at short
    ///   schedules, in PyTorch too), batch 128, 3000 prototypes (100 stay at ln K), 20000
    ///   training images, 8 epochs.
    public static func cell(_ cell: TableCell) -> TableCell {
        var c = cell.configuration
        if c.method is BYOLConfiguration {
            c.batchSize = 32; c.trainImages = 8192; c.epochs = 8
        } else if c.method is SwAVConfiguration {
            c.augmentation = .barlowTwins; c.batchSize = 128; c.trainImages = 20000; c.epochs = 8
            c.ifMethod(SwAVConfiguration.self) { $0.prototypeCount = 3000 }
        } else {
            return cell
        }
        return cell.withConfiguration(c)
    }
}
