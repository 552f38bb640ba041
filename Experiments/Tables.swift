import Training

/// The ablation tables are declared here as data (DESIGN.md, "Experiments"). This issue's
/// kernel has one method and no tables yet; the runner and the declarations come with the
/// ablation-tables issue. `Scale` names the budgets every table will run at.
public enum Scale: String, CaseIterable {
    case smoke, ci, cpu, paper
}
