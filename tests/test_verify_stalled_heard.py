"""data_stalled when the stall's receiver still spoke on the control connection (trial 23
D9): the agent's own firewall dropped its data ports mid-transfer, and the agent then
halted the job with NOTIFY_DATA_HALTED. The agent was up and reachable, so the finding
must not send the administrator to check whether it is up."""

from __future__ import annotations

from pathlib import Path

from flowcheck.config import build_config, load_file
from flowcheck.pipeline import analyze, read_traffic

FOLDER = Path(__file__).resolve().parent.parent / "captures" / "lab-trial23"


def test_a_stall_whose_receiver_halted_the_job_is_not_a_host_down() -> None:
    config = build_config(load_file(FOLDER / "midjob-agent-firewall.toml"))
    analysis = analyze(read_traffic([str(FOLDER / "midjob-agent-firewall.pcap.gz")], config),
                       config)
    [stalled] = [f for f in analysis.findings if f.code == "data_stalled"]
    [halt] = [m for s in analysis.traffic.streams for m in s.messages
              if m.name == "NDMP_NOTIFY_DATA_HALTED"]
    assert halt.direction == "resp"  # from the agent, over the control connection
    assert (f"The agent 10.77.0.2 was still up and reachable after the data stopped: it sent "
            f"NOTIFY_DATA_HALTED on the control connection (frame {halt.frame})"
            ) in stalled.message
    assert "itself went down" not in stalled.message
    assert stalled.fix.startswith("See the session and event logs of the firewalls, NAT "
                                  "devices and IPSs between 10.77.0.1 and 10.77.0.2 and the "
                                  "host firewall and security software on 10.77.0.2")
    assert "is up and reachable" not in stalled.fix
