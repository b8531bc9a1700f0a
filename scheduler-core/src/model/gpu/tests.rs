use std::collections::BTreeMap;

use super::*;

fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn article_hami_and_volcano_requests() {
    let r =
        Resources::parse([(VGPU_MEMORY, "4Gi"), (VGPU_CORES, "25")]).expect("test data is valid");
    let q = parse_request(&r, &BTreeMap::new()).expect("test data is valid");
    assert_eq!(
        (q.count, q.memory_mib, q.cores, q.exclusive),
        (1, 4096, 25, false)
    );

    let r = Resources::parse([
        (NVIDIA_GPU, "2"),
        (HAMI_GPUMEM, "3000"),
        (HAMI_GPUCORES, "30"),
    ])
    .expect("test data is valid");
    let q = parse_request(&r, &ann(&[(USE_GPUTYPE, "A100, H100")])).expect("test data is valid");
    assert_eq!(
        (q.count, q.memory_mib, q.cores, q.exclusive),
        (2, 3000, 30, false)
    );
    assert_eq!(q.use_types, vec!["A100", "H100"]);

    let r = Resources::parse([(VOLCANO_VGPU_NUMBER, "1"), (VOLCANO_VGPU_MEMORY, "1024")])
        .expect("test data is valid");
    let q = parse_request(&r, &BTreeMap::new()).expect("test data is valid");
    assert_eq!((q.count, q.memory_mib, q.cores), (1, 1024, 0));

    let r = Resources::parse([(NVIDIA_GPU, "1"), (HAMI_GPUMEM_PERCENTAGE, "50")])
        .expect("test data is valid");
    let q = parse_request(&r, &BTreeMap::new()).expect("test data is valid");
    let card = GpuDevice {
        uuid: "u".into(),
        index: 0,
        memory_mib: 80 * 1024,
        cores: 100,
        model: "NVIDIA-A100".into(),
        healthy: true,
    };
    assert_eq!(q.memory_on(&card), 40 * 1024);

    let r = Resources::parse([(NVIDIA_GPU, "1")]).expect("test data is valid");
    let q = parse_request(&r, &BTreeMap::new()).expect("test data is valid");
    assert!(q.exclusive);
    assert_eq!((q.memory_on(&card), q.cores_on()), (80 * 1024, 100));

    assert!(
        parse_request(
            &Resources::parse([("cpu", "1")]).expect("test data is valid"),
            &BTreeMap::new()
        )
        .is_none()
    );
}

#[test]
fn type_and_uuid_filters() {
    let card = GpuDevice {
        uuid: "GPU-1".into(),
        index: 0,
        memory_mib: 1,
        cores: 100,
        model: "NVIDIA-A100-SXM4-80GB".into(),
        healthy: true,
    };
    let r = Resources::new().with(NVIDIA_GPU, 1);
    let q = |a: &[(&str, &str)]| parse_request(&r, &ann(a)).expect("test data is valid");
    assert!(q(&[(USE_GPUTYPE, "a100")]).allows(&card));
    assert!(!q(&[(USE_GPUTYPE, "H100")]).allows(&card));
    assert!(!q(&[(NOUSE_GPUTYPE, "A100")]).allows(&card));
    assert!(q(&[(USE_GPUUUID, "GPU-1")]).allows(&card));
    assert!(!q(&[(NOUSE_GPUUUID, "GPU-1")]).allows(&card));
}

#[test]
fn hami_register_both_forms_and_gfd_fallback() {
    let json = r#"[{"id":"GPU-a","index":0,"count":10,"devmem":81920,"devcore":100,"type":"NVIDIA-A100","numa":0,"mode":"hami-core","health":true},
                  {"id":"GPU-b","index":1,"count":10,"devmem":81920,"devcore":100,"type":"NVIDIA-A100","numa":0,"health":false}]"#;
    let cards = parse_hami_register(json).expect("test data is valid");
    assert_eq!(cards.len(), 2);
    assert_eq!((cards[1].uuid.as_str(), cards[1].healthy), ("GPU-b", false));
    let colon = "GPU-a,10,16384,100,NVIDIA-T4,0,true:GPU-b,10,16384,100,NVIDIA-T4,0,false:";
    let cards = parse_hami_register(colon).expect("test data is valid");
    assert_eq!(cards.len(), 2);
    assert_eq!(
        (cards[0].memory_mib, cards[1].index, cards[1].healthy),
        (16384, 1, false)
    );
    assert!(parse_hami_register("GPU-a,10,x,100,T4").is_err());

    let labels = ann(&[(GFD_PRODUCT, "NVIDIA-H100"), (GFD_MEMORY, "81559")]);
    let cap = Resources::new().with(NVIDIA_GPU, 2);
    let gfd = node_cards("n1", &labels, &BTreeMap::new(), &cap);
    assert_eq!(gfd.len(), 2);
    assert_eq!(
        (gfd[1].uuid.as_str(), gfd[1].memory_mib),
        ("n1-gpu-1", 81559)
    );
    // The annotation wins; a malformed one falls back to the labels.
    let hami = node_cards("n1", &labels, &ann(&[(HAMI_NODE_REGISTER, colon)]), &cap);
    assert_eq!(hami[0].model, "NVIDIA-T4");
    let bad = node_cards("n1", &labels, &ann(&[(HAMI_NODE_REGISTER, "[oops")]), &cap);
    assert_eq!(bad[0].model, "NVIDIA-H100");
}

#[test]
fn assignment_round_trip() {
    let shares = [
        CardShare {
            uuid: "GPU-a".into(),
            model: "T4".into(),
            memory_mib: 4096,
            cores: 25,
        },
        CardShare {
            uuid: "GPU-b".into(),
            model: "T4".into(),
            memory_mib: 4096,
            cores: 25,
        },
    ];
    let text = encode_assignment(&shares);
    assert_eq!(text, "GPU-a,T4,4096,25:GPU-b,T4,4096,25:;");
    let a = ann(&[(HAMI_DEVICES_TO_ALLOCATE, &text)]);
    assert_eq!(
        bound_assignment(&a).expect("test data is valid"),
        vec!["GPU-a", "GPU-b"]
    );
    let alloc = share_allocatable(&[]);
    assert!(alloc.is_empty());
}

/// A bound pod's cards are read from HAMi's `devices-allocated`, else its `devices-to-allocate`,
/// else Volcano's `vgpu-ids-new`, whatever the keys' order in the map; an entry that does not
/// decode (or names no card) gives way to the next.
#[test]
fn a_bound_assignment_prefers_the_allocated_annotation_and_skips_a_malformed_one() {
    let to_allocate = "GPU-b,T4,4096,25:;";
    let allocated = "GPU-a,T4,4096,25:;";
    let volcano = "GPU-c,T4,4096,25:;";
    let all = ann(&[
        (HAMI_DEVICES_TO_ALLOCATE, to_allocate),
        (VOLCANO_VGPU_IDS_NEW, volcano),
        (HAMI_DEVICES_ALLOCATED, allocated),
    ]);
    assert_eq!(bound_assignment(&all), Some(vec!["GPU-a".to_owned()]));
    let malformed = ann(&[
        (HAMI_DEVICES_ALLOCATED, ",T4,4096,25:;"),
        (VOLCANO_VGPU_IDS_NEW, volcano),
    ]);
    assert_eq!(bound_assignment(&malformed), Some(vec!["GPU-c".to_owned()]));
    let unrelated = ann(&[("scheduling.k8s.io/group-name", "pg")]);
    assert_eq!(bound_assignment(&unrelated), None);
}

/// deviceshare reads a session's GPU requests from the interned request rows
/// (`parse_request_row`); it must answer exactly what `parse_request` answers on the map, for
/// every request name, zero and negative amounts, other resources and filter annotations.
#[test]
fn a_request_read_from_its_interned_row_is_the_parsed_request() {
    let amounts = [-1, 0, 1, 2, 25, 100, 150, 4 << 30, 3000];
    let mut maps: Vec<Resources> = Vec::new();
    for (i, name) in GPU_REQUEST_NAMES.iter().enumerate() {
        for (k, a) in amounts.iter().enumerate() {
            let other = GPU_REQUEST_NAMES[(i + k + 1) % GPU_REQUEST_NAMES.len()];
            maps.push(Resources::new().with(name, *a));
            maps.push(
                Resources::new()
                    .with(name, *a)
                    .with(other, amounts[(k + 3) % amounts.len()])
                    .with("cpu", 1000)
                    .with("example.com/foo", 3),
            );
        }
    }
    maps.push(Resources::new().with("cpu", 1000));
    maps.push(Resources::new());
    let all = [
        NVIDIA_GPU,
        HAMI_GPUCORES,
        VGPU_MEMORY,
        VGPU_CORES,
        HAMI_GPUMEM_PERCENTAGE,
    ]
    .map(|n| Resources::new().with(n, 1).with(VOLCANO_VGPU_NUMBER, 2));
    maps.extend(all);
    let annotations = [
        BTreeMap::new(),
        ann(&[(USE_GPUTYPE, "A100, H100")]),
        ann(&[
            (NOUSE_GPUTYPE, "T4"),
            (USE_GPUUUID, "GPU-1"),
            (NOUSE_GPUUUID, "GPU-2"),
        ]),
    ];
    let dims =
        crate::resources::ResourceDims::new(maps.iter().flat_map(|m| m.iter().map(|(k, _)| k)));
    let gpu_dims = GpuDims::new(&dims);
    let mut some = 0;
    for m in &maps {
        let row = dims.vector(m);
        for a in &annotations {
            let expected = parse_request(m, a);
            some += usize::from(expected.is_some());
            assert_eq!(
                parse_request_row(&gpu_dims, &row, a),
                expected,
                "{m:?} {a:?}"
            );
        }
    }
    assert!(some > maps.len(), "the cases include GPU requests");
}
