// SPDX-License-Identifier: Apache-2.0
#include "commands.h"

namespace dpforge::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"train", train_command,
       "train RECIPE [--set section.key=value]... [--out DIR] | train --resume DIR",
       "train a recipe, write DIR/report.json"},
      {"sweep", sweep_command,
       "sweep RECIPE [--grid key=v1,v2]... [--variant 'name: key=v ...']... --out DIR [--rerun]",
       "one run per combination, then the table"},
      {"compare", compare_command, "compare RUN_OR_SWEEP_DIR... [--json | --csv]",
       "runs side by side: epsilon, accuracy, attacks"},
      {"report", report_command, "report RUN_DIR [--out FILE]",
       "one self-contained HTML page for a run"},
      {"summary", summary_command, "summary RECIPE [--set section.key=value]...",
       "the model a recipe trains: layers, shapes, parameters, norms, step memory"},
      {"predict", predict_command, "predict RUN_DIR INPUT.csv [--out FILE]",
       "score new rows with a run's model and preprocessing"},
      {"audit", audit_command, "audit RUN_DIR --set audit.shadow_models=K [--json]",
       "LiRA and RMIA with K shadow models"},
      {"budget", budget_command,
       "budget (--sample-rate Q | --batch-size B --dataset-size N) --noise-multiplier S (--steps "
       "T[,T...] | --epochs E[,E...]) (--delta D | --epsilon E) [--accountant A] [--json]",
       "epsilon spent by DP-SGD"},
      {"calibrate", calibrate_command,
       "calibrate --target-epsilon E --delta D (--sample-rate Q | --batch-size B --dataset-size N) "
       "(--steps T[,T...] | --epochs E[,E...]) [--accountant A] [--json]",
       "noise multiplier for a target epsilon"},
      {"audit-scores", audit_scores_command,
       "audit-scores FILE.csv [--delta D] [--confidence C] [--json]",
       "epsilon lower bounds from score,member rows"},
      {"stats-template", stats_template_command,
       "stats-template DATA.csv [--label COLUMN] [--out FILE]",
       "the data.stats skeleton of a table, to fill in with public values"},
      {"keys", keys_command, "keys [--markdown]", "list every recipe key"},
  };
  return table;
}

}  // namespace dpforge::cli
