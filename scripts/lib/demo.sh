# demo.sh is sourced by run.sh and demo-seed.sh: where `make run`'s demo data
# lives and how a fieldsync command reaches it, never the person's own data.
#
#   $demo_dir/config.json          the demo device's settings (its own file:
#                                  the person's config.json is never read)
#   $demo_dir/data/                the demo device's data dir (demo.txt marks it)
#   $demo_dir/second-device.json   the simulated second device's settings
#   $demo_dir/second-device/       its data dir
#   $demo_dir/drill/               the Drill workspace both devices sync into
#
# FIELDSYNC_DEMO_DIR moves it (default $XDG_STATE_HOME/fieldsync-demo, i.e.
# ~/.local/state/fieldsync-demo, beside the real ~/.local/state/fieldsync);
# FIELDSYNC_DEMO_WORKSPACE names the Drill workspace (default fieldsync_demo).

demo_dir=${FIELDSYNC_DEMO_DIR:-${XDG_STATE_HOME:-$HOME/.local/state}/fieldsync-demo}
case $demo_dir in /*) ;; *) demo_dir=$PWD/$demo_dir ;; esac
demo_workspace=${FIELDSYNC_DEMO_WORKSPACE:-fieldsync_demo}

# demo_isolate unsets the person's FIELDSYNC_* settings variables (a data
# dir, a Drill address, a password...), so none of them reaches the demo and
# no demo record reaches their Drill. IT's managed file still applies: a
# setting it locks makes the demo's commands stop with IT named.
demo_isolate() {
  local v
  for v in $(compgen -e); do
    case $v in
      FIELDSYNC_DEMO_DIR | FIELDSYNC_DEMO_WORKSPACE | FIELDSYNC_MANAGED_CONFIG | FIELDSYNC_BIN) ;;
      FIELDSYNC_*) unset "$v" ;;
    esac
  done
}

# demo_args CONFIG DATA_DIR DRILL_URL sets the array demo_args: the flags
# every demo command gets. The settings file gives the rest (device,
# collections, workspace location); the flags make sure the data dir and
# Drill are the demo's whatever else is set.
demo_args() {
  demo_args=(--config "$1" --data-dir "$2" --drill "$3" --workspace "$demo_workspace")
}
