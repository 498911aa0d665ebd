#!/bin/sh
# Drive a running devtenant's fault injection from outside Go (README, "Fault injection").
#   DEVTENANT_URL=http://127.0.0.1:9999 DEVTENANT_CONTROL_TOKEN=… scripts/faults.sh list
#   scripts/faults.sh add 'POST /invitations status=503 after rate=0.3' 'abuse times=1'
#   scripts/faults.sh clear
#   scripts/faults.sh quota 20/1s      # or: quota off; quota (prints it)
set -eu
url=${DEVTENANT_URL:?set DEVTENANT_URL to the address devtenant printed, e.g. http://127.0.0.1:9999}
token=${DEVTENANT_CONTROL_TOKEN:?set DEVTENANT_CONTROL_TOKEN to the control token devtenant printed at start}
cmd=${1:-list}
[ $# -gt 0 ] && shift
call() { curl -sS --fail-with-body -H "Authorization: Bearer $token" "$@"; echo; }
case $cmd in
list) call "$url/_devtenant/faults" ;;
add)
	[ $# -gt 0 ] || { echo "usage: $0 add SPEC..." >&2; exit 2; }
	printf '%s\n' "$@" | call --data-binary @- -H 'Content-Type: text/plain' "$url/_devtenant/faults" ;;
clear) call -X DELETE "$url/_devtenant/faults" ;;
quota)
	if [ $# -gt 0 ]; then call -X PUT --data-binary "$1" "$url/_devtenant/write-quota"
	else call "$url/_devtenant/write-quota"; fi ;;
*) echo "usage: $0 list | add SPEC... | clear | quota [N/DURATION|off]" >&2; exit 2 ;;
esac
