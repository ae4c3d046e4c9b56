/**
 * Checksums of migrations 0001-0010 as released before their function bodies
 * moved to functions/. A database that recorded one of these applied that
 * version; migrate updates the record to the current file quietly instead of
 * warning that an applied migration changed.
 */
export const LEGACY_CHECKSUMS: ReadonlyMap<number, string> = new Map([
  [1, '1dfd851584448c3a0c04839056d957d6b6b36dc9040eaa3e6d1d35351320d0c3'],
  [2, '3c8ad787892990696c96ac34a46a631dc9f0aceeeb1309eaec7d69898d1714dd'],
  [3, '0711a2a802993e903b749038eb53f5b92272ed027701743e7946b6699b9b651a'],
  [4, 'cc95ec02648ba368f30d4f9c84e2653e05ecfb6b29d0b2a721391331ab22e90b'],
  [5, '5f440023b9402882d4ca6d74999db896927f21f722eb5f4b886ab8229f5902ea'],
  [6, '7081bdc4dc95abfef9bb6b3a9a02d993239500333fe9c467e72fcea714c1d764'],
  [7, '54525b1cd00c674b19ccf38c52a24f9d7e2ab39669a0fe0e1305ff6db844e4a3'],
  [8, '4d93d935ad1e48bdf6ce5f94d76ecc38f83bcd60033bb0a460df172953916bfd'],
  [9, 'f514f8fbec56d8805876a463efc471125d2125726e7fb5ba42c065785feea392'],
  [10, '2114f91149a007cd440610f203f2f4cb41a7ef101dc4402382140064c86ce8aa'],
]);
