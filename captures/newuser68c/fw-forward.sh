nft add table inet filter
nft add chain inet filter forward '{ type filter hook forward priority 0; }'
nft insert rule inet filter forward ip saddr { 10.68.1.1 } ip daddr { 10.68.2.2 } tcp dport { 10000 } ct state new accept
nft insert rule inet filter forward ip saddr { 10.68.2.2 } ip daddr { 10.68.1.1 } tcp dport { 5001-5100 } ct state new accept
nft insert rule inet filter forward ip saddr { 10.68.1.1 } ip daddr { 10.68.2.2 } tcp dport { 6001-6100 } ct state new accept
nft insert rule inet filter forward ct state established,related accept
