//! Legacy simulcast signalled by SSRC groups (`a=ssrc-group:SIM s0 s1 s2`), as older clients
//! send it instead of RIDs. The stack does not interpret SIM groups, so the layers are named
//! here: SSRCs are listed from the lowest to the highest resolution and get the RIDs `q`, `h`,
//! `f` the rest of the server uses.

use std::collections::HashMap;

/// Layer names given to SIM group SSRCs, lowest first.
const LAYER_NAMES: [&str; 3] = ["q", "h", "f"];

/// The SIM groups of an SDP: mid -> SSRCs, lowest layer first (only groups of 2 or 3).
pub fn parse(sdp: &str) -> HashMap<String, Vec<u32>> {
    let mut groups = HashMap::new();
    for section in sdp.split("\nm=").skip(1) {
        let mut mid = None;
        let mut ssrcs = None;
        for line in section.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(m) = line.strip_prefix("a=mid:") {
                mid = Some(m.trim().to_owned());
            } else if let Some(rest) = line.strip_prefix("a=ssrc-group:SIM") {
                let list: Option<Vec<u32>> =
                    rest.split_whitespace().map(|s| s.parse().ok()).collect();
                ssrcs = list;
            }
        }
        if let (Some(mid), Some(ssrcs)) = (mid, ssrcs)
            && (2..=LAYER_NAMES.len()).contains(&ssrcs.len())
        {
            groups.insert(mid, ssrcs);
        }
    }
    groups
}

/// The RID the server uses for the `index`-th SSRC of a SIM group.
pub fn layer_name(index: usize) -> &'static str {
    LAYER_NAMES.get(index).copied().unwrap_or("f")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sim_groups_per_mid() {
        let sdp = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
            m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=ssrc:5 cname:x\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=ssrc-group:SIM 10 20 30\r\na=ssrc-group:FID 10 11\r\na=mid:1\r\n\
            m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:2\r\na=ssrc-group:SIM 1 x\r\n";
        let g = parse(sdp);
        assert_eq!(g.get("1"), Some(&vec![10, 20, 30]));
        assert!(!g.contains_key("0"));
        assert!(!g.contains_key("2"), "malformed groups are ignored");
        assert_eq!(layer_name(0), "q");
        assert_eq!(layer_name(2), "f");
    }
}
