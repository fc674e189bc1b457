// The four reference DNNs of deploy/examples as ONNX graphs of their published structure, and the
// early-exit heads of the ResNet-18 and MobileNetV2 examples. Module names follow the examples'
// layer names (torchvision's where they agree), so importing yields the examples' layer tables.
import { GraphBuilder, type BuildOptions } from "@eiaas/onnx";

const WEIGHTS_NOTE =
  "Weights are SEEDED RANDOM numbers (no trained weights can be downloaded here): the structure, shapes, " +
  "FLOPs, parameter counts and run times are those of the published model, its predictions are meaningless.";

function doc(title: string, source: string): { docString: string; metadata: Record<string, string> } {
  return { docString: `${title}. ${source}. ${WEIGHTS_NOTE}`, metadata: { architecture: title, source, trainedWeights: "false", seedNote: WEIGHTS_NOTE } };
}

/** ResNet-18 (He et al. 2016), torchvision BasicBlock layout, 1x3x224x224 → 1x1000 logits. */
export function resnet18(o: BuildOptions = {}): Uint8Array {
  const g = new GraphBuilder("resnet18", o);
  let x = g.input("input", [1, 3, 224, 224]);
  x = g.conv("stem/conv1", x, { cin: 3, cout: 64, k: 7, stride: 2, pad: 3 });
  x = g.relu("stem/relu", g.bn("stem/bn1", x, 64));
  x = g.maxPool("stem/maxpool", x, 3, 2, 1);
  let cin = 64;
  [64, 128, 256, 512].forEach((cout, stage) => {
    for (let b = 0; b < 2; b++) {
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const path = `layer${stage + 1}/layer${stage + 1}.${b}`;
      let y = g.conv(`${path}/conv1`, x, { cin, cout, k: 3, stride, pad: 1 });
      y = g.relu(`${path}/relu`, g.bn(`${path}/bn1`, y, cout));
      y = g.bn(`${path}/bn2`, g.conv(`${path}/conv2`, y, { cin: cout, cout, k: 3, pad: 1 }), cout);
      let skip = x;
      if (stride !== 1 || cin !== cout) {
        skip = g.bn(`${path}/downsample/downsample.1`, g.conv(`${path}/downsample/downsample.0`, x, { cin, cout, k: 1, stride }), cout);
      }
      x = g.relu(`${path}/relu_1`, g.add(path, y, skip));
      cin = cout;
    }
  });
  x = g.flatten("avgpool_fc", g.globalAvgPool("avgpool_fc/avgpool", x));
  x = g.linear("avgpool_fc/fc", x, 512, 1000);
  return g.build(x, [1, 1000], doc("ResNet-18", "He et al., Deep Residual Learning, CVPR 2016; torchvision resnet18 layout"));
}

/** MobileNetV2 1.0 (Sandler et al. 2018), torchvision layout, 1x3x224x224 → 1x1000 logits. */
export function mobilenetv2(o: BuildOptions = {}): Uint8Array {
  const g = new GraphBuilder("mobilenetv2", o);
  let x = g.input("input", [1, 3, 224, 224]);
  x = g.relu6("conv_first/2", g.bn("conv_first/1", g.conv("conv_first/0", x, { cin: 3, cout: 32, k: 3, stride: 2, pad: 1 }), 32));
  const settings: Array<[number, number, number, number]> = [
    [1, 16, 1, 1],
    [6, 24, 2, 2],
    [6, 32, 3, 2],
    [6, 64, 4, 2],
    [6, 96, 3, 1],
    [6, 160, 3, 2],
    [6, 320, 1, 1],
  ];
  let cin = 32;
  let block = 0;
  for (const [t, c, n, s] of settings) {
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const path = `block${++block}/conv`;
      const hidden = cin * t;
      let y = x;
      let k = 0;
      const cna = (from: string, conv: Parameters<GraphBuilder["conv"]>[2]): string => {
        const p = `${path}/conv.${k++}`;
        return g.relu6(`${p}/${p.split("/").pop()}.2`, g.bn(`${p}/${p.split("/").pop()}.1`, g.conv(`${p}/${p.split("/").pop()}.0`, from, conv), conv.cout));
      };
      if (t !== 1) y = cna(y, { cin, cout: hidden, k: 1 });
      y = cna(y, { cin: hidden, cout: hidden, k: 3, stride, pad: 1, groups: hidden });
      y = g.conv(`${path}/conv.${k}`, y, { cin: hidden, cout: c, k: 1 });
      y = g.bn(`${path}/conv.${k + 1}`, y, c);
      x = stride === 1 && cin === c ? g.add(`block${block}`, x, y) : y;
      cin = c;
    }
  }
  x = g.relu6("conv_last/2", g.bn("conv_last/1", g.conv("conv_last/0", x, { cin: 320, cout: 1280, k: 1 }), 1280));
  x = g.flatten("avgpool_fc", g.globalAvgPool("avgpool_fc/avgpool", x));
  x = g.linear("avgpool_fc/classifier.1", g.dropout("avgpool_fc/classifier.0", x), 1280, 1000);
  return g.build(x, [1, 1000], doc("MobileNetV2 1.0", "Sandler et al., MobileNetV2, CVPR 2018; torchvision mobilenet_v2 layout"));
}

/** AlexNet as Caffe's bvlc_alexnet deploy.prototxt: 1x3x227x227, LRN, group 2 on conv2/4/5. */
export function alexnet(o: BuildOptions = {}): Uint8Array {
  const g = new GraphBuilder("alexnet", o);
  let x = g.input("data", [1, 3, 227, 227]);
  x = g.relu("relu1", g.conv("conv1", x, { cin: 3, cout: 96, k: 11, stride: 4, bias: true }));
  x = g.maxPool("pool1", g.lrn("norm1", x), 3, 2);
  x = g.relu("relu2", g.conv("conv2", x, { cin: 96, cout: 256, k: 5, pad: 2, groups: 2, bias: true }));
  x = g.maxPool("pool2", g.lrn("norm2", x), 3, 2);
  x = g.relu("relu3", g.conv("conv3", x, { cin: 256, cout: 384, k: 3, pad: 1, bias: true }));
  x = g.relu("relu4", g.conv("conv4", x, { cin: 384, cout: 384, k: 3, pad: 1, groups: 2, bias: true }));
  x = g.relu("relu5", g.conv("conv5", x, { cin: 384, cout: 256, k: 3, pad: 1, groups: 2, bias: true }));
  x = g.maxPool("pool5", x, 3, 2);
  x = g.dropout("drop6", g.relu("relu6", g.linear("fc6", g.flatten("fc6", x), 9216, 4096)));
  x = g.dropout("drop7", g.relu("relu7", g.linear("fc7", x, 4096, 4096)));
  x = g.linear("fc8", x, 4096, 1000);
  return g.build(x, [1, 1000], doc("AlexNet (Caffe bvlc_alexnet)", "Krizhevsky et al. 2012; github.com/BVLC/caffe models/bvlc_alexnet/deploy.prototxt"));
}

/** VGG-16 (configuration D), Caffe layer names, 1x3x224x224 → 1x1000 logits. */
export function vgg16(o: BuildOptions = {}): Uint8Array {
  const g = new GraphBuilder("vgg16", o);
  let x = g.input("input", [1, 3, 224, 224]);
  let cin = 3;
  [64, 128, 256, 512, 512].forEach((cout, stage) => {
    const convs = stage < 2 ? 2 : 3;
    for (let i = 1; i <= convs; i++) {
      const id = `${stage + 1}_${i}`;
      x = g.relu(`relu${id}`, g.conv(`conv${id}`, x, { cin, cout, k: 3, pad: 1, bias: true }));
      cin = cout;
    }
    x = g.maxPool(`pool${stage + 1}`, x, 2, 2);
  });
  // torchvision's AdaptiveAvgPool2d((7, 7)) is the identity at 224x224 and is left out.
  x = g.dropout("drop6", g.relu("relu6", g.linear("fc6", g.flatten("fc6", x), 25088, 4096)));
  x = g.dropout("drop7", g.relu("relu7", g.linear("fc7", x, 4096, 4096)));
  x = g.linear("fc8", x, 4096, 1000);
  return g.build(x, [1, 1000], doc("VGG-16 (configuration D)", "Simonyan & Zisserman, ICLR 2015; torchvision vgg16 without its identity adaptive pool"));
}

/** An exit head as in the examples: global average pool + fc(C → 1000) on a C×H×W feature map. */
export function exitHead(name: string, shape: [number, number, number], o: BuildOptions = {}): Uint8Array {
  const g = new GraphBuilder(name, o);
  const [c, h, w] = shape;
  let x = g.input("features", [1, c, h, w]);
  x = g.flatten("exit", g.globalAvgPool("exit/avgpool", x));
  x = g.linear("exit/fc", x, c, 1000);
  return g.build(x, [1, 1000], doc(`early-exit head ${name}`, "global average pool + fc, BranchyNet/Edgent style"));
}

export const MODELS = { resnet18, mobilenetv2, alexnet, vgg16 } as const;
export type ReferenceModel = keyof typeof MODELS;

/** The exit heads of deploy/examples: model, afterLayer, feature map entering the head. */
export const EXITS: ReadonlyArray<{ model: ReferenceModel; afterLayer: number; shape: [number, number, number] }> = [
  { model: "resnet18", afterLayer: 3, shape: [64, 56, 56] },
  { model: "resnet18", afterLayer: 7, shape: [256, 14, 14] },
  { model: "mobilenetv2", afterLayer: 7, shape: [32, 28, 28] },
  { model: "mobilenetv2", afterLayer: 14, shape: [96, 14, 14] },
];
